"""cancel-all racing reprices of the same pairs on DynamoDB Local (AWS's own engine, real transaction conflicts):
every original pair ends exactly once, either cancelled by cancel-all or repriced, and the ledger and margin
invariants hold. A pair a reprice creates while cancel-all runs may survive it (documented in
docs/market-maker.md)."""
from decimal import Decimal as D

from chalicelib.common.errors import ApiError
from chalicelib.trading import mm_service, service
from chalicelib.trading.models import PairItem
from tests.helpers import Api, run_together
from tests.trading.conftest import SYM, assert_invariants

N_PAIRS = 30
N_REPRICES = 8


def test_cancel_all_racing_reprices_ends_every_pair_once(ddb_client):
    api = Api(ddb_client)
    admin = api.admin_token()
    token, uid = api.register()
    api.credit(admin, uid, 10 ** 6)
    ids = []
    for i in range(N_PAIRS):
        p = api.post("/api/liquidity/pairs", {"symbol": SYM, "bidPrice": 69990 - i, "askPrice": 70010 + i,
                                              "quantity": D("0.01")}, token=token)
        assert p.status == 201, p
        ids.append(p.json["pairId"])

    def reprice(i):
        def go():
            try:
                return service.reprice(uid, {"pairId": ids[i], "newBidPrice": D(69000 + i),
                                             "newAskPrice": D(71000 + i)})
            except ApiError as e:
                assert e.code == "PAIR_NOT_PENDING", (e.code, e.error)
                return None
        return go

    results = run_together([lambda: mm_service.cancel_all(uid)] + [reprice(i) for i in range(N_REPRICES)])
    cancelled = set(results[0]["cancelledPairIds"])
    repriced = {r["oldPairId"] for r in results[1:] if r}
    successors = {r["pairId"] for r in results[1:] if r}
    assert not cancelled & repriced  # never both
    assert (cancelled & set(ids)) | repriced == set(ids)  # every original pair ended, by one of them
    assert cancelled - set(ids) <= successors  # what else it cancelled: pairs the racing reprices created
    for pid in ids:
        item = PairItem.get(*PairItem.key(uid, pid))
        assert item.status == ("repriced" if pid in repriced else "cancelled"), (pid, item.status)
        assert item.gsi1pk is None  # out of the live index
    live = {p.pair_id for p in PairItem.live.query(f"LIVEPAIRS#{uid}")}
    assert live == successors - cancelled  # only pairs created by the racing reprices can still be pending
    rest = mm_service.cancel_all(uid)
    assert set(rest["cancelledPairIds"]) == live
    assert_invariants()
