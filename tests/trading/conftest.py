"""Trading test fixtures: accounts with money, prices pushed through the API, invariant checks over storage."""
from collections import defaultdict
from decimal import Decimal

import pytest

from chalicelib.ledger import check
from chalicelib.marketdata import store as md
from chalicelib.storage.models import Account
from tests.helpers import Api

SYM = "BTCUSDT"  # built-in: pricePrecision 2, quantityPrecision 4, minQuantity 0.0001, maxLeverage 100


class World:
    def __init__(self, api: Api):
        self.api = api
        self.admin = api.admin_token()

    def account(self, amount=10000):
        token, uid = self.api.register()
        if amount:
            self.api.credit(self.admin, uid, amount)
        return token, uid

    def push(self, price, symbol=SYM):
        r = self.api.post("/api/broker/price-feed", {"symbol": symbol, "price": Decimal(str(price))},
                          token=self.admin)
        assert r.status == 200, r
        return r.json

    def pair(self, token, bid, ask, qty="0.01", lev=1, symbol=SYM, **extra):
        body = {"symbol": symbol, "bidPrice": Decimal(str(bid)), "askPrice": Decimal(str(ask)),
                "quantity": Decimal(str(qty)), "leverage": lev, **extra}
        return self.api.post("/api/liquidity/pairs", body, token=token)

    def order(self, token, side, qty, price=None, lev=1, symbol=SYM, **extra):
        body = {"symbol": symbol, "side": side, "type": "limit" if price is not None else "market",
                "quantity": Decimal(str(qty)), "leverage": lev, **extra}
        if price is not None:
            body["price"] = Decimal(str(price))
        return self.api.post("/api/orders", body, token=token)

    def me(self, token):
        return self.api.me(token)


@pytest.fixture
def world(client):
    md.clear_cache()
    return World(Api(client))


@pytest.fixture
def ddb_world(ddb_client):
    md.clear_cache()
    return World(Api(ddb_client))


def frozen_by_open_orders() -> dict[str, Decimal]:
    from chalicelib.trading.models import OrderItem
    out = defaultdict(Decimal)
    for o in OrderItem.scan(OrderItem.pk.startswith("ORDER#")):
        if o.status == "pending":
            out[o.account_id] += o.frozen_margin
        else:
            assert o.frozen_margin == 0, (o.order_id, o.status, o.frozen_margin)
    return out


def margin_by_open_positions() -> dict[str, Decimal]:
    from chalicelib.trading.models import PositionItem
    out = defaultdict(Decimal)
    for p in PositionItem.scan(PositionItem.pk.startswith("POS#")):
        out[p.account_id] += p.margin
    return out


def assert_invariants():
    """Ledger sums to zero and matches balances, nothing negative, frozen margin == Σ open orders' frozen margin,
    position margin == Σ positions' margin, every pending pair has both orders pending."""
    v = check.verify()
    assert v["ok"], v["problems"]
    frozen = frozen_by_open_orders()
    held = margin_by_open_positions()
    for a in Account.scan(Account.pk.startswith("ACCT#")):
        if a.role == "system":
            continue
        assert a.available_balance >= 0, a.user_id
        assert a.frozen_margin == frozen.get(a.user_id, 0), (a.user_id, a.frozen_margin, frozen.get(a.user_id))
        assert a.position_margin == held.get(a.user_id, 0), (a.user_id, a.position_margin, held.get(a.user_id))
    from chalicelib.trading.models import OrderItem, PairItem
    for p in PairItem.scan(PairItem.pk.startswith("PAIR#")):
        b = OrderItem.get(*OrderItem.key(p.buy_order_id))
        s = OrderItem.get(*OrderItem.key(p.sell_order_id))
        assert (p.status == "pending") == (b.status == "pending") == (s.status == "pending"), \
            (p.pair_id, p.status, b.status, s.status)
        assert p.buy_status == b.status and p.sell_status == s.status, (p.pair_id, p.buy_status, b.status)
        if p.status == "pending":
            assert b.gsi1pk and s.gsi1pk
    return v


class DynamoCalls:
    """Every DynamoDB call made inside the block (any client, any thread): operation, params and response."""

    def __init__(self):
        self.calls: list[tuple[str, dict, dict]] = []

    def ops(self) -> list[str]:
        return [op for op, _, _ in self.calls]

    def items_returned(self, op: str | None = None) -> int:
        n = 0
        for o, _, resp in self.calls:
            if op is not None and o != op:
                continue
            if o == "GetItem":
                n += 1 if resp.get("Item") else 0
            elif o in ("Query", "Scan"):
                n += resp.get("Count", len(resp.get("Items", [])))
            elif o == "BatchGetItem":
                n += sum(len(v) for v in resp.get("Responses", {}).values())
        return n


@pytest.fixture
def dynamo_calls(monkeypatch):
    import threading

    from botocore.client import BaseClient
    real = BaseClient._make_api_call
    rec = DynamoCalls()
    lock = threading.Lock()
    active = {"on": False}

    def spy(self, operation_name, api_params):
        resp = real(self, operation_name, api_params)
        if active["on"] and self.meta.service_model.service_name == "dynamodb":
            with lock:
                rec.calls.append((operation_name, dict(api_params), resp))
        return resp
    monkeypatch.setattr(BaseClient, "_make_api_call", spy)

    class Ctl:
        def __enter__(self):
            rec.calls.clear()
            active["on"] = True
            return rec

        def __exit__(self, *exc):
            active["on"] = False
    return Ctl()
