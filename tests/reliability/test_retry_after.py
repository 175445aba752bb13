"""Every "try again" answer (429, 503) tells the client when: Retry-After, also on the app's own 503s
(BUSY, TX_CONFLICT, TIMERS_UNAVAILABLE), not only on storage faults and rate limits."""
from chalicelib.common.errors import ApiError
from chalicelib.common.http import error_response
from chalicelib.trading import service
from tests.helpers import Api


def test_error_response_adds_retry_after_to_503_and_429_only():
    assert error_response(service.Busy()).headers["Retry-After"] == "1"
    assert error_response(ApiError(429, "X", "x")).headers["Retry-After"] == "1"
    e = ApiError(503, "X", "x")
    e.headers = {"Retry-After": "7"}
    assert error_response(e).headers["Retry-After"] == "7"  # a stated delay is kept
    assert "Retry-After" not in error_response(ApiError(400, "X", "x")).headers
    assert "Retry-After" not in error_response(ApiError(500, "X", "x")).headers


def test_a_busy_order_book_answers_503_with_retry_after_through_the_api(client, monkeypatch):
    api = Api(client)
    token, _ = api.register()

    def busy(*a, **kw):
        raise service.Busy()
    monkeypatch.setattr(service, "place_order", busy)
    r = api.post("/api/orders", {"symbol": "BTCUSDT", "side": "buy", "type": "market", "quantity": "0.01"},
                 token=token)
    assert r.status == 503 and r.json["code"] == "BUSY", r
    assert r.headers.get("Retry-After") == "1" or r.headers.get("retry-after") == "1", r.headers
