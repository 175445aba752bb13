"""The reference market maker (`simtrade mm run`): the guide's workflow, one quoting loop per symbol.

1. Log in; probe the toolkit the server may offer (dead-man's switch, cancel-all, cancel-on-disconnect): a 404
   means absent and is never an error.
2. Place a pair around the reference price (the WebSocket ticker, REST /api/ticker as the fallback), skewed
   against the inventory so fills tend to flatten it.
3. Reprice at most once per `interval` (>= 1 s) when the quote moved; a 400 (the pair was filled or is gone,
   margin short) means: re-evaluate the inventory and place a new pair; a 401 means: log in again (the client
   does it and repeats the call); a 5xx / lost connection after the client's retries means: back off.
4. The dead-man's switch is refreshed every loop (so a crashed bot's quotes vanish by themselves); the WebSocket
   asks for cancel-on-disconnect and re-sends it, with auth and subscriptions, on every reconnect.
5. On exit (SIGINT/SIGTERM or stop()): cancel every pending pair of the symbol, switch the dead-man off.
Every `report_every` seconds it logs inventory (net position), equity and PnL since start.
"""
import asyncio
import logging
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from simtrade.client import ABSENT, Client
from simtrade.errors import ApiError, AuthError, SimtradeError, TransportError
from simtrade.ws import Stream

log = logging.getLogger("simtrade.mm")
MIN_INTERVAL = 1.0


@dataclass
class Quoter:
    symbol: str
    spread: Decimal  # relative (0.001 = 10 bp around the reference) unless absolute_spread
    quantity: Decimal
    leverage: Decimal = Decimal(1)
    skew: Decimal = Decimal("0.5")  # fraction of the half spread to lean per `quantity` of inventory
    absolute_spread: bool = False
    notional: Decimal | None = None  # DCT per side: sets `quantity` from the reference price at start
    min_quantity: Decimal | None = None
    quantity_step: Decimal = Decimal("0.01")
    sized: bool = False
    pair_id: str | None = None
    quote: tuple[Decimal, Decimal] | None = None
    price_precision: int = 2
    inventory: Decimal = Decimal(0)
    ref: Decimal | None = None
    ref_at: float = 0.0
    stats: dict = field(default_factory=lambda: {"placed": 0, "repriced": 0, "rejected400": 0, "backoffs": 0,
                                                 "filled": 0})

    def target(self) -> tuple[Decimal, Decimal] | None:
        if self.ref is None:
            return None
        half = (self.spread if self.absolute_spread else self.ref * self.spread) / 2
        tick = Decimal(1).scaleb(-self.price_precision)
        half = max(half, tick)
        lean = -half * self.skew * (self.inventory / self.quantity) if self.quantity else Decimal(0)
        lean = max(-half, min(half, lean))
        mid = self.ref + lean
        bid = (mid - half).quantize(tick, rounding=ROUND_DOWN)
        ask = (mid + half).quantize(tick, rounding=ROUND_HALF_UP)
        if ask <= bid:
            ask = bid + tick
        return bid, ask


class MarketMaker:
    def __init__(self, client: Client, symbols: list[str], spread, quantity, *, leverage=1, interval: float = 1.5,
                 absolute_spread: bool = False, dead_man_ms: int = 15000, cancel_on_disconnect_ms: int = 5000,
                 report_every: float = 10.0, use_ws: bool = True, notional=None):
        self.client = client
        self.interval = max(MIN_INTERVAL, float(interval))
        if quantity is None and notional is None:
            raise ValueError("give a quantity or a notional")
        self.quoters = {s: Quoter(s, Decimal(str(spread)), Decimal(str(quantity or 0)), Decimal(str(leverage)),
                                  absolute_spread=absolute_spread,
                                  notional=None if notional is None else Decimal(str(notional))) for s in symbols}
        self.dead_man_ms, self.cod_ms, self.report_every, self.use_ws = dead_man_ms, cancel_on_disconnect_ms, \
            report_every, use_ws
        self.features = {"deadMan": None, "cancelAll": None, "cancelOnDisconnect": None}
        self.stream: Stream | None = None
        self._stop = asyncio.Event()
        self._start_equity: Decimal | None = None
        self._backoff = 0.0
        self._dead_man_at = 0.0
        self.last_report: dict = {}

    def stop(self):
        self._stop.set()

    # --- REST helpers (blocking client, run in a thread) --------------------------------------------------

    async def _io(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    async def _setup(self):
        if not self.client.token:
            await self._io(self.client.login)
        symbols = {s.symbol: s for s in await self._io(self.client.symbols)}
        for q in self.quoters.values():
            if q.symbol not in symbols:
                raise SimtradeError(f"unknown symbol {q.symbol}")
            q.price_precision = symbols[q.symbol].pricePrecision
            q.ref = symbols[q.symbol].lastPrice
            q.ref_at = time.monotonic() if q.ref is not None else 0.0
            q.min_quantity = symbols[q.symbol].minQuantity
            q.quantity_step = Decimal(1).scaleb(-symbols[q.symbol].quantityPrecision)
            if q.notional is None:
                self._size(q)
        # leftovers of an earlier run of this account on these symbols would double the quotes: cancel them
        for q in self.quoters.values():
            await self._cancel_symbol(q)
        self._start_equity = (await self._io(self.client.account)).equity
        await self._refresh_inventory()
        await self._dead_man()

    @staticmethod
    def _size(q: "Quoter"):
        """The quantity a side: --quantity, or --notional at the first reference price (a symbol without a price
        yet waits for one)."""
        if q.notional is not None:
            q.quantity = q.notional / q.ref
        q.quantity = max(q.quantity.quantize(q.quantity_step, rounding=ROUND_DOWN), q.min_quantity or q.quantity_step)
        q.sized = True
        log.info("mm %s: quoting %s a side, spread %s%s, leverage %s", q.symbol, q.quantity, q.spread,
                 "" if q.absolute_spread else " (relative)", q.leverage)

    async def _dead_man(self, timeout_ms: int | None = None):
        """Arm (or refresh) the switch; refreshed when a third of its timeout has passed, not every loop."""
        if self.features["deadMan"] is False or not (self.dead_man_ms or timeout_ms is not None):
            return
        if timeout_ms is None and time.monotonic() - self._dead_man_at < self.dead_man_ms / 3000:
            return
        self._dead_man_at = time.monotonic()
        ms = self.dead_man_ms if timeout_ms is None else timeout_ms
        if ms and ms < 1000:
            ms = 1000
        try:
            r = await self._io(self.client.probe, "POST", "/api/liquidity/cancel-all-after", json={"timeoutMs": ms})
        except SimtradeError as e:
            log.warning("dead-man's switch: %s", e)
            return
        if self.features["deadMan"] is None:
            self.features["deadMan"] = r is not ABSENT
            log.info("dead-man's switch: %s", f"on ({ms} ms)" if r is not ABSENT else "not offered by the server")

    async def _cancel_symbol(self, q: Quoter):
        """Cancel every pending pair of the symbol: cancel-all when offered, else pair by pair."""
        if self.features["cancelAll"] is not False:
            try:
                r = await self._io(self.client.probe, "POST", "/api/liquidity/cancel-all", json={"symbol": q.symbol})
                if self.features["cancelAll"] is None:
                    self.features["cancelAll"] = r is not ABSENT
                if r is not ABSENT:
                    q.pair_id = q.quote = None
                    return
            except SimtradeError as e:
                log.warning("cancel-all %s: %s", q.symbol, e)
        for p in await self._io(self.client.pairs, symbol=q.symbol, status="pending", limit=500):
            try:
                await self._io(self.client.cancel_pair, p.pairId)
            except ApiError as e:
                if e.status != 400:  # 400: filled or cancelled meanwhile
                    raise
        q.pair_id = q.quote = None

    async def _refresh_inventory(self):
        positions = await self._io(self.client.positions)
        for q in self.quoters.values():
            q.inventory = sum((p.quantity if p.side == "long" else -p.quantity
                               for p in positions if p.symbol == q.symbol), Decimal(0))

    # --- market data ------------------------------------------------------------------------------------------

    async def _listen(self):
        self.stream = Stream(self.client)
        await self.stream.connect()
        if self.cod_ms:
            await self.stream.set_cancel_on_disconnect(True, self.cod_ms)
        for s in self.quoters:
            await self.stream.subscribe("ticker", s)
        await self.stream.subscribe("orders")
        async for msg in self.stream:
            if self._stop.is_set():
                break
            q = self.quoters.get(msg.symbol or "")
            if msg.type == "ticker" and q is not None and msg.data.get("price") is not None:
                q.ref, q.ref_at = Decimal(str(msg.data["price"])), time.monotonic()
            elif msg.type == "cancelOnDisconnect":
                self.features["cancelOnDisconnect"] = bool(msg.data.get("enabled"))
            elif msg.type == "orders":
                order = msg.data.get("order") if isinstance(msg.data.get("order"), dict) else msg.data
                q = self.quoters.get(order.get("symbol") or msg.symbol or "")
                if q is not None and order.get("status") == "filled" and \
                        (order.get("meta") or {}).get("pairId") == q.pair_id:
                    q.stats["filled"] += 1
                    q.pair_id = q.quote = None  # the pair ended: re-evaluate and place a new one

    # --- the quoting loop -------------------------------------------------------------------------------------

    async def _step(self, q: Quoter):
        if q.ref is None or not self.use_ws or time.monotonic() - q.ref_at > 5:  # no fresh WebSocket price: poll
            t = await self._io(self.client.ticker, q.symbol)
            if t.price is not None:
                q.ref, q.ref_at = t.price, time.monotonic()
        if q.ref is None:
            return
        if not q.sized:
            self._size(q)
        target = q.target()
        bid, ask = target
        if q.pair_id is None:
            placed = await self._io(self.client.place_pair, q.symbol, bid, ask, q.quantity, q.leverage)
            q.pair_id, q.quote = placed.pairId, (bid, ask)
            q.stats["placed"] += 1
            log.debug("%s placed %s %s/%s", q.symbol, q.pair_id, bid, ask)
        elif target != q.quote:
            r = await self._io(self.client.reprice, q.pair_id, bid, ask)
            q.pair_id, q.quote = r.pairId, (bid, ask)
            q.stats["repriced"] += 1

    async def _loop(self):
        last_report = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            for q in self.quoters.values():
                try:
                    await self._step(q)
                    self._backoff = 0.0
                except AuthError as e:  # the client's own re-login failed or was not possible: try again
                    log.warning("%s: %s; logging in again", q.symbol, e)
                    await self._io(self.client.login)
                except ApiError as e:
                    if 400 <= e.status < 500 and e.status not in (401, 429):
                        q.stats["rejected400"] += 1
                        log.info("%s: %s %s: re-evaluating inventory, placing a new pair", q.symbol, e.status, e.code)
                        q.pair_id = q.quote = None
                        await self._refresh_inventory()
                        if e.code in ("INSUFFICIENT_MARGIN", "MMP_FROZEN"):
                            await self._sleep(5)
                    else:
                        await self._back_off(q, e)
                except TransportError as e:
                    await self._back_off(q, e)
            await self._dead_man()
            if time.monotonic() - last_report >= self.report_every:
                last_report = time.monotonic()
                await self._report()
            await self._sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def _back_off(self, q: Quoter, e):
        q.stats["backoffs"] += 1
        self._backoff = min(30.0, max(1.0, self._backoff * 2))
        log.warning("%s: %s; backing off %.0f s", q.symbol, e, self._backoff)
        await self._sleep(self._backoff)

    async def _sleep(self, s: float):
        try:
            await asyncio.wait_for(self._stop.wait(), s)
        except asyncio.TimeoutError:
            pass

    async def _report(self):
        try:
            await self._refresh_inventory()
            acct = await self._io(self.client.account)
        except SimtradeError as e:
            log.warning("report: %s", e)
            return
        pnl = (acct.equity - self._start_equity) if acct.equity is not None and self._start_equity is not None \
            else None
        self.last_report = {
            "equity": acct.equity, "pnl": pnl, "reauths": self.client.reauths,
            "wsConnects": self.stream.connects if self.stream else 0, "features": self.features,
            "symbols": {s: {"pair": q.pair_id, "quote": q.quote, "ref": q.ref, "inventory": q.inventory,
                            **q.stats} for s, q in self.quoters.items()}}
        for s, q in self.quoters.items():
            log.info("mm %s ref=%s quote=%s inventory=%s equity=%s pnl=%s placed=%d repriced=%d rejected=%d "
                     "reauths=%d wsConnects=%d features=%s", s, q.ref, "/".join(map(str, q.quote)) if q.quote else "-",
                     q.inventory, acct.equity, pnl, q.stats["placed"], q.stats["repriced"], q.stats["rejected400"],
                     self.client.reauths, self.stream.connects if self.stream else 0,
                     ",".join(f"{k}:{'-' if v is None else int(v)}" for k, v in self.features.items()))

    async def run(self):
        await self._setup()
        listener = asyncio.create_task(self._listen()) if self.use_ws else None
        try:
            await self._loop()
        finally:
            if listener is not None:
                listener.cancel()
                try:
                    await listener
                except (asyncio.CancelledError, Exception):
                    pass
            await self.shutdown()

    async def shutdown(self):
        """Cancel every pending pair of our symbols, switch the dead-man off, close the stream."""
        for q in self.quoters.values():
            for attempt in range(3):
                try:
                    await self._cancel_symbol(q)
                    break
                except SimtradeError as e:
                    log.warning("cancel on exit %s: %s", q.symbol, e)
                    await asyncio.sleep(0.5)
        if self.features["deadMan"]:
            try:
                await self._io(self.client.cancel_all_after, 0)
            except SimtradeError:
                pass
        await self._report()
        if self.stream is not None:
            await self.stream.close()
        log.info("mm stopped: every pending pair of %s cancelled", ", ".join(self.quoters))
