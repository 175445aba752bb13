"""The SDK's client pieces without a server: a requests transport adapter answers from a script and records
every request. Retries (5xx/429 only, Retry-After honoured, never 400), re-authentication on 401, one
Idempotency-Key per money-moving call reused by its retries, Decimals in and out, the depth checksum."""
import json
import time
import zlib
from decimal import Decimal
from email.utils import formatdate

import pytest
import requests
from requests.adapters import BaseAdapter

from simtrade import ApiError, AuthError, Client, RetryPolicy, ServerError, TransportError, depth_checksum
from simtrade.retry import retry_after_seconds


class Scripted(BaseAdapter):
    """Answers each request with the next scripted item: (status, body, headers), or an exception to raise."""

    def __init__(self, script):
        super().__init__()
        self.script, self.seen = list(script), []

    def send(self, request, **kw):
        self.seen.append(request)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        status, body, headers = (item + ({},))[:3] if len(item) == 2 else item
        r = requests.Response()
        r.status_code, r.request, r.url = status, request, request.url
        r._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        r.headers.update({"Content-Type": "application/json", **headers})
        return r

    def close(self):
        pass


def client(script, **kw):
    adapter = Scripted(script)
    s = requests.Session()
    s.mount("http://", adapter)
    sleeps = []
    c = Client("http://sim.test", session=s, sleep=sleeps.append, **kw)
    return c, adapter, sleeps


ACCOUNT = '{"userId":"u1","username":"mm","role":"trader","currency":"DCT","balance":100000.10,' \
          '"availableBalance":99999.999999999999,"frozenMargin":0,"positionMargin":0,"unrealizedPnl":0,"equity":1}'


def test_numbers_parse_to_exact_decimals_never_floats():
    c, _, _ = client([(200, ACCOUNT)], token="t")
    a = c.account()
    assert a.balance == Decimal("100000.10") and isinstance(a.balance, Decimal)
    assert a.availableBalance == Decimal("99999.999999999999")  # a float would round this to 100000.0
    assert isinstance(a.frozenMargin, Decimal)


def test_decimals_go_out_with_exactly_their_digits_and_floats_are_refused():
    c, ad, _ = client([(201, {"pairId": "p", "buyOrderId": "b", "sellOrderId": "s", "frozenMargin": 1})],
                      token="t")
    c.place_pair("XAUUSD", Decimal("2350.10"), "2350.30", Decimal("0.000000000000000001"))
    body = ad.seen[0].body.decode()
    assert '"bidPrice":2350.10' in body and '"askPrice":2350.30' in body
    assert '"quantity":0.000000000000000001' in body
    assert json.loads(body, parse_float=Decimal)["quantity"] == Decimal("1E-18")
    with pytest.raises(TypeError):
        c.place_pair("XAUUSD", 2350.1, 2350.3, 1)
    assert len(ad.seen) == 1  # the float call sent nothing


def test_5xx_is_retried_with_backoff_then_succeeds():
    c, ad, sleeps = client([(500, {"error": "x", "code": "INTERNAL"}), (502, "bad gateway"), (200, ACCOUNT)],
                           token="t", retry=RetryPolicy(attempts=4, base=0.5, cap=4))
    assert c.account().userId == "u1"
    assert len(ad.seen) == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter under base * 2**(n-1)


def test_retry_after_is_honoured_in_seconds_and_as_an_http_date():
    c, ad, sleeps = client([(429, {"error": "slow down", "code": "RATE_LIMITED"}, {"Retry-After": "3"}),
                            (503, {"error": "busy", "code": "UNAVAILABLE"},
                             {"Retry-After": formatdate(time.time() + 7, usegmt=True)}),
                            (200, ACCOUNT)], token="t")
    c.account()
    assert sleeps[0] == 3.0
    assert 5.0 <= sleeps[1] <= 7.0
    assert retry_after_seconds("garbage") is None and retry_after_seconds("-5") == 0.0


def test_retries_run_out_into_a_server_error_carrying_the_code():
    c, ad, sleeps = client([(503, {"error": "LiquidityOrderManager 未初始化", "code": "LIQUIDITY_UNAVAILABLE"})],
                           token="t", retry=RetryPolicy(attempts=3))
    with pytest.raises(ServerError) as e:
        c.pairs()
    assert e.value.code == "LIQUIDITY_UNAVAILABLE" and e.value.status == 503
    assert len(ad.seen) == 3 and len(sleeps) == 2


def test_400_is_never_retried():
    c, ad, sleeps = client([(400, {"error": "找不到 pairId=p1 的 pending 流動性訂單", "code": "PAIR_NOT_PENDING"}),
                            (200, {})], token="t")
    with pytest.raises(ApiError) as e:
        c.reprice("p1", Decimal(1), Decimal(2))
    assert e.value.status == 400 and e.value.code == "PAIR_NOT_PENDING"
    assert e.value.error == "找不到 pairId=p1 的 pending 流動性訂單"
    assert len(ad.seen) == 1 and sleeps == []


def test_401_logs_in_again_and_repeats_the_call_once():
    login = (200, {"token": "fresh", "user": {"id": "u1", "username": "mm", "role": "trader"}})
    invalid = (401, {"error": "Session无效或已过期", "code": "SESSION_INVALID"})
    c, ad, _ = client([invalid, login, (200, ACCOUNT)], token="revoked", username="mm", password="pw")
    assert c.account().userId == "u1"
    paths = [(r.method, r.path_url, r.headers.get("Authorization")) for r in ad.seen]
    assert paths == [("GET", "/api/accounts/me", "Bearer revoked"), ("POST", "/api/auth/login", None),
                     ("GET", "/api/accounts/me", "Bearer fresh")]
    assert c.token == "fresh" and c.reauths == 1


def test_a_second_401_after_relogin_is_raised_not_looped():
    login = (200, {"token": "fresh", "user": {"id": "u1", "username": "mm", "role": "trader"}})
    invalid = (401, {"error": "Session无效或已过期", "code": "SESSION_INVALID"})
    c, ad, _ = client([invalid, login, invalid, login], token="t", username="mm", password="pw")
    with pytest.raises(AuthError) as e:
        c.account()
    assert e.value.code == "SESSION_INVALID" and len(ad.seen) == 3


def test_401_without_credentials_is_raised():
    c, ad, _ = client([(401, {"error": "Session无效或已过期", "code": "SESSION_INVALID"})], token="t")
    with pytest.raises(AuthError):
        c.account()
    assert len(ad.seen) == 1


def test_money_moving_calls_reuse_one_idempotency_key_across_retries():
    ok = (201, {"id": "t1", "amount": 5})
    c, ad, _ = client([(500, {"error": "x", "code": "INTERNAL"}), requests.ConnectionError("reset"),
                       (429, {"error": "slow", "code": "RATE_LIMITED"}, {"Retry-After": "0"}), ok, ok],
                      api_key="bk_x", retry=RetryPolicy(attempts=5))
    c.broker.deposit("client-1", Decimal("5.00"))
    keys = [r.headers.get("Idempotency-Key") for r in ad.seen]
    assert len(keys) == 4 and len(set(keys)) == 1 and keys[0]
    assert all(r.headers["X-API-Key"] == "bk_x" for r in ad.seen)
    c.broker.deposit("client-1", Decimal("5.00"))  # a new call: a new key
    assert ad.seen[-1].headers["Idempotency-Key"] != keys[0]


@pytest.mark.parametrize("call", [
    lambda c: c.place_order("XAUUSD", "buy", Decimal(1)),
    lambda c: c.withdraw(Decimal(10)),
    lambda c: c.credit("u1", Decimal(10), "ref"),
    lambda c: c.place_pair("XAUUSD", Decimal(1), Decimal(2), Decimal(1)),
    lambda c: c.broker.withdraw("c1", Decimal(10)),
])
def test_every_money_moving_call_sends_an_idempotency_key(call):
    c, ad, _ = client([(500, {"error": "x", "code": "INTERNAL"}), (201, {})], token="t", api_key="bk")
    try:
        call(c)
    except Exception:
        pass  # the typed result of {} may not validate; the requests are what this test is about
    keys = [r.headers.get("Idempotency-Key") for r in ad.seen]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


def test_a_post_without_idempotency_key_is_not_retried_on_5xx():
    c, ad, _ = client([(500, {"error": "x", "code": "INTERNAL"}), (201, {})])
    with pytest.raises(ServerError):
        c.register("new", "pw")  # creates an account: repeating it blind could make two
    assert len(ad.seen) == 1


def test_lost_connections_are_retried_then_reported():
    c, ad, sleeps = client([requests.ConnectionError("refused")], token="t", retry=RetryPolicy(attempts=3))
    with pytest.raises(TransportError):
        c.account()
    assert len(ad.seen) == 3 and len(sleeps) == 2


def test_probe_says_absent_for_a_missing_route():
    c, _, _ = client([(403, {"message": "Missing Authentication Token"})], token="t")
    from simtrade import ABSENT
    assert c.probe("POST", "/api/liquidity/cancel-all-after", json={"timeoutMs": 1000}) is ABSENT
    c, _, _ = client([(404, {"error": "Not found", "code": "NOT_FOUND"})], token="t")
    assert c.openapi() is None


def test_depth_checksum_follows_the_kraken_scheme():
    asks = [[Decimal("2350.1"), Decimal("0.85")]] + [[Decimal(2360 + i), Decimal(1)] for i in range(12)]
    bids = [[Decimal("2349.5"), Decimal("1")], [Decimal("0.05"), Decimal("2.5")]]
    # asks lowest first (10 of them), then bids highest first; '.' removed, leading zeros stripped
    text = "235010" + "85" + "".join(f"{2360 + i}00100" for i in range(9)) + "234950" + "100" + "5" + "250"
    assert depth_checksum(bids, asks, 2, 2) == zlib.crc32(text.encode())
    assert depth_checksum(list(reversed(bids)), list(reversed(asks)), 2, 2) == zlib.crc32(text.encode())
    assert depth_checksum(bids, asks, 2, 3) != depth_checksum(bids, asks, 2, 2)
