"""One principal's concurrent writes all share its counter item: on DynamoDB Local (real transaction conflicts) the
counter must not make them fail. A transaction whose only clash is the counter is retried without it and the request
is counted after the view; every request is counted exactly once."""
import os
from decimal import Decimal

from chalicelib.limits import logic, service as limits, store
from chalicelib.common import clock
from tests.helpers import Api, run_together

SYM = "BTCUSDT"


def test_concurrent_reprices_of_one_session_all_succeed_and_are_each_counted_once(ddb_client, monkeypatch):
    # chalice.test.Client swaps os.environ for a copy during each request; from several threads at once the last one
    # to finish can leave a copy in place (with this test's settings): put the real one back afterwards
    real_environ = os.environ
    limits._seen.clear()
    clock.advance(3_600_000 - clock.now_ms() % 3_600_000 + 1)
    try:
        monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", "3600")
        api = Api(ddb_client)
        admin = api.admin_token()
        mm, uid = api.register()
        api.credit(admin, uid, 10**6)
        assert api.post("/api/broker/price-feed", {"symbol": SYM, "price": Decimal(70000)}, token=admin).status == 200
        n = 8
        pairs = []
        for k in range(n):
            p = api.post("/api/liquidity/pairs", {"symbol": SYM, "bidPrice": Decimal(69000 - k),
                                                  "askPrice": Decimal(71000 + k), "quantity": Decimal("0.01")},
                         token=mm)
            assert p.status == 201, p
            pairs.append(p.json["pairId"])
        results = run_together([
            (lambda pid=pid, k=k: api.post("/api/liquidity/reprice", {"pairId": pid, "newBidPrice": Decimal(68000 - k),
                                                                       "newAskPrice": Decimal(72000 + k)}, token=mm))
            for k, pid in enumerate(pairs)])
        assert [r.status for r in results] == [200] * n, results
        window = logic.window_of(clock.now_ms(), 3600)
        import hashlib
        pk = "RATE#s:" + hashlib.sha256(mm.encode()).hexdigest()[:32]
        assert store.Counter.get(pk, str(window), consistent_read=True).count == 2 * n  # n pairs + n reprices
    finally:
        os.environ = real_environ
        clock.reset()
        limits._seen.clear()
