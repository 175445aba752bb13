"""The market maker's workflow against a fake client (no server): quote around the reference with inventory
skew, reprice only when the quote moves, a 400 -> re-evaluate inventory and place a new pair, a 5xx -> back
off, toolkit endpoints probed (absent: 404/403 is no error), everything cancelled on exit."""
import asyncio
from decimal import Decimal

import pytest

from simtrade import ABSENT
from simtrade.bot import MarketMaker, Quoter
from simtrade.errors import ApiError, ServerError
from simtrade.models import Account, PairPlaced, Position, Repriced, Symbol, Ticker

pytestmark = pytest.mark.timeout(30)


class FakeClient:
    def __init__(self, offers_toolkit=False):
        self.token, self.reauths, self.calls = "t", 0, []
        self.price = Decimal("1000.00")
        self.positions_list: list[Position] = []
        self.reprice_errors: list[Exception] = []
        self.pending: set[str] = set()
        self.offers = offers_toolkit
        self.n = 0

    def login(self):
        self.calls.append(("login",))

    def symbols(self):
        return [Symbol(symbol="TEST", pricePrecision=2, quantityPrecision=2, minQuantity=Decimal("0.01"),
                       lastPrice=self.price)]

    def ticker(self, symbol):
        return Ticker(symbol=symbol, price=self.price)

    def account(self):
        return Account(userId="u", username="mm", role="trader", balance=Decimal(1000), availableBalance=Decimal(1000),
                       frozenMargin=Decimal(0), positionMargin=Decimal(0), equity=Decimal(1000))

    def positions(self):
        return self.positions_list

    def probe(self, method, path, json=None):
        self.calls.append(("probe", path, json))
        if not self.offers:
            return ABSENT
        if path.endswith("cancel-all"):
            self.pending.clear()
            return {"cancelledPairIds": [], "releasedMargin": 0}
        return {"timeoutMs": json["timeoutMs"], "deadline": 1}

    def pairs(self, symbol=None, status=None, limit=None):
        from simtrade.models import Pair
        return [Pair(pairId=p, symbol="TEST", bidPrice=1, askPrice=2, quantity=1, status="pending") for p in self.pending]

    def cancel_pair(self, pair_id):
        self.calls.append(("cancel", pair_id))
        self.pending.discard(pair_id)

    def place_pair(self, symbol, bid, ask, qty, lev):
        self.n += 1
        pid = f"p{self.n}"
        self.calls.append(("place", bid, ask, qty))
        self.pending.add(pid)
        return PairPlaced(pairId=pid, buyOrderId="b", sellOrderId="s", frozenMargin=Decimal(1))

    def reprice(self, pair_id, bid, ask):
        self.calls.append(("reprice", pair_id, bid, ask))
        if self.reprice_errors:
            raise self.reprice_errors.pop(0)
        self.n += 1
        pid = f"p{self.n}"
        self.pending.discard(pair_id)
        self.pending.add(pid)
        return Repriced(pairId=pid, oldPairId=pair_id, buyOrderId="b", sellOrderId="s")

    def cancel_all_after(self, ms):
        self.calls.append(("dead-man", ms))


def run_steps(bot: MarketMaker, client: FakeClient, script):
    """Run setup, then one loop step per item of `script` (a callable changing the fake first)."""
    async def main():
        await bot._setup()
        q = bot.quoters["TEST"]
        for change in script:
            change()
            try:
                await bot._step(q)
            except ApiError as e:  # what _loop does with it, minus the sleeps
                if e.status < 500:
                    q.pair_id = q.quote = None
                    await bot._refresh_inventory()
                    q.stats["rejected400"] += 1
                else:
                    q.stats["backoffs"] += 1
        await bot.shutdown()
    asyncio.run(main())


def test_quote_is_centred_and_leans_against_inventory():
    q = Quoter("TEST", Decimal("0.01"), Decimal(1), price_precision=2, ref=Decimal(1000), sized=True)
    assert q.target() == (Decimal("995.00"), Decimal("1005.00"))
    q.inventory = Decimal(1)  # long: quote lower so the ask fills first
    bid, ask = q.target()
    assert bid < Decimal(995) and ask < Decimal(1005) and ask - bid == Decimal(10)
    q.inventory = Decimal(-10)  # the lean is capped at the half spread: the bid never crosses the reference
    bid, ask = q.target()
    assert bid == Decimal(1000) and ask == Decimal(1010)


def test_workflow_place_reprice_on_move_new_pair_after_400_back_off_on_5xx_cancel_on_exit():
    c = FakeClient()
    bot = MarketMaker(c, ["TEST"], Decimal("0.01"), Decimal("1"), use_ws=False)

    def move(p):
        return lambda: setattr(c, "price", Decimal(p))

    def fail(e):
        return lambda: c.reprice_errors.append(e)

    def filled_long():
        c.positions_list = [Position(positionId="x", symbol="TEST", side="long", quantity=Decimal(1),
                                     entryPrice=Decimal(1000))]
        c.reprice_errors.append(ApiError(400, "PAIR_NOT_PENDING", "找不到 pairId=p2 的 pending 流動性訂單"))

    def both(*fns):
        return lambda: [f() for f in fns]

    run_steps(bot, c, [lambda: None, lambda: None, move("1010"), both(filled_long, move("1012")), lambda: None,
                       both(fail(ServerError(500, "INTERNAL", "x")), move("1020")), move("1030")])
    kinds = [x[0] for x in c.calls if x[0] in ("place", "reprice")]
    # placed; unchanged quote: nothing sent; moved: reprice; moved, 400: re-evaluate -> new pair; moved, 500: the
    # pair stays (backoff); moved: reprice of that same pair
    assert kinds == ["place", "reprice", "reprice", "place", "reprice", "reprice"], c.calls
    reprices = [x for x in c.calls if x[0] == "reprice"]
    assert reprices[2][1] == reprices[3][1]  # after the 500 the same pair is repriced again
    place2 = [x for x in c.calls if x[0] == "place"][1]
    assert place2[1] < Decimal("1012") - Decimal("5.06")  # the new pair leans against the long inventory found after the 400
    q = bot.quoters["TEST"]
    assert q.stats["rejected400"] == 1 and q.stats["backoffs"] == 1 and q.inventory == 1
    assert c.pending == set(), "a pair was left pending after shutdown"
    probes = [x[1] for x in c.calls if x[0] == "probe"]
    assert "/api/liquidity/cancel-all-after" in probes and "/api/liquidity/cancel-all" in probes
    assert bot.features["deadMan"] is False and bot.features["cancelAll"] is False  # absent: no error


def test_the_toolkit_is_used_when_the_server_offers_it():
    c = FakeClient(offers_toolkit=True)
    bot = MarketMaker(c, ["TEST"], Decimal("0.01"), Decimal("1"), use_ws=False, dead_man_ms=12000)
    run_steps(bot, c, [lambda: None])
    assert bot.features["deadMan"] is True and bot.features["cancelAll"] is True
    assert ("probe", "/api/liquidity/cancel-all-after", {"timeoutMs": 12000}) in c.calls
    assert ("dead-man", 0) in c.calls  # switched off on a clean exit
    assert not any(x[0] == "cancel" for x in c.calls)  # cancel-all did it in one call
    assert c.pending == set()


def test_notional_sizes_the_quantity_from_the_price():
    c = FakeClient()
    bot = MarketMaker(c, ["TEST"], Decimal("0.01"), None, notional=Decimal("2500"), use_ws=False)
    run_steps(bot, c, [lambda: None])
    assert [x[3] for x in c.calls if x[0] == "place"] == [Decimal("2.50")]
