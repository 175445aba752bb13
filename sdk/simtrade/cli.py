"""`simtrade ...`: the command line (Click + Rich).

Connection settings come from options or the environment: SIMTRADE_URL (default http://127.0.0.1:3001),
SIMTRADE_TOKEN, SIMTRADE_USERNAME / SIMTRADE_PASSWORD (then the CLI can log in again on a 401),
SIMTRADE_API_KEY (broker v1 commands). `simtrade login` stores the session in SIMTRADE_CONFIG
(default ~/.config/simtrade/session.json) for the next commands.
"""
import asyncio
import csv
import json
import logging
import os
import signal
import sys
import time
from decimal import Decimal, InvalidOperation

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from simtrade.client import Client
from simtrade.errors import SimtradeError

console = Console()
err = Console(stderr=True)


def _config_path() -> str:
    return os.environ.get("SIMTRADE_CONFIG") or os.path.expanduser("~/.config/simtrade/session.json")


def _load_config() -> dict:
    try:
        with open(_config_path()) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_config(doc: dict):
    path = _config_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=2)


class DecimalType(click.ParamType):
    name = "decimal"

    def convert(self, value, param, ctx):
        if isinstance(value, Decimal):
            return value
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not d.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return d


DEC = DecimalType()


def _jsonable(o):
    if isinstance(o, Decimal):
        return format(o, "f")
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="python")
    return str(o)


def _print(obj, as_json: bool = False):
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="python", exclude_none=True)
    if isinstance(obj, list):
        obj = [x.model_dump(mode="python", exclude_none=True) if hasattr(x, "model_dump") else x for x in obj]
    if as_json or not obj:
        console.print_json(json.dumps(obj, default=_jsonable))
        return
    if isinstance(obj, dict):
        t = Table(show_header=False)
        for k, v in obj.items():
            t.add_row(str(k), json.dumps(v, default=_jsonable) if isinstance(v, (dict, list)) else _jsonable(v))
        console.print(t)
    elif isinstance(obj, list) and all(isinstance(x, dict) for x in obj):
        cols = list(dict.fromkeys(k for x in obj for k in x))
        t = Table(*cols)
        for x in obj:
            t.add_row(*[_jsonable(x.get(c, "")) if not isinstance(x.get(c), (dict, list)) else
                        json.dumps(x.get(c), default=_jsonable) for c in cols])
        console.print(t)
    else:
        console.print(obj)


@click.group()
@click.option("--url", envvar="SIMTRADE_URL", help="API base URL")
@click.option("--token", envvar="SIMTRADE_TOKEN", help="session token")
@click.option("--username", envvar="SIMTRADE_USERNAME")
@click.option("--password", envvar="SIMTRADE_PASSWORD")
@click.option("--api-key", envvar="SIMTRADE_API_KEY", help="broker API key (bk_...)")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
@click.option("-v", "--verbose", count=True)
@click.pass_context
def main(ctx, url, token, username, password, api_key, as_json, verbose):
    """The sim-trading platform from the command line."""
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", datefmt="%H:%M:%S")
    cfg = _load_config()
    client = Client(url or cfg.get("url") or "http://127.0.0.1:3001", token=token or cfg.get("token"),
                    username=username or cfg.get("username"), password=password,
                    api_key=api_key or cfg.get("apiKey"))
    ctx.obj = {"client": client, "json": as_json, "cfg": cfg}


def _run(ctx, fn):
    try:
        _print(fn(ctx.obj["client"]), ctx.obj["json"])
    except SimtradeError as e:
        err.print(f"[red]error:[/red] {e}")
        sys.exit(1)


@main.command()
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True)
@click.pass_context
def login(ctx, username, password):
    """Log in and remember the session token."""
    c: Client = ctx.obj["client"]
    try:
        s = c.login(username, password)
    except SimtradeError as e:
        err.print(f"[red]login failed:[/red] {e}")
        sys.exit(1)
    _save_config({**ctx.obj["cfg"], "url": c.base_url, "token": s.token, "username": username})
    console.print(f"logged in as [bold]{s.user.username}[/bold] ({s.user.role}); session saved to {_config_path()}")


@main.command()
@click.pass_context
def logout(ctx):
    """Revoke the session token."""
    _run(ctx, lambda c: c.logout())
    cfg = ctx.obj["cfg"]
    cfg.pop("token", None)
    _save_config(cfg)


@main.command()
@click.pass_context
def account(ctx):
    """Balance, margins, equity."""
    _run(ctx, lambda c: c.account())


@main.command()
@click.pass_context
def symbols(ctx):
    """The market list with best bid/ask."""
    _run(ctx, lambda c: c.symbols())


@main.command()
@click.argument("symbol")
@click.option("--limit", type=int)
@click.pass_context
def depth(ctx, symbol, limit):
    """The order book of a symbol."""
    _run(ctx, lambda c: c.depth(symbol, limit))


# --- prices -------------------------------------------------------------------------------------------------

@main.group()
def price():
    """Push reference prices (role broker or admin)."""


@price.command("push")
@click.argument("symbol")
@click.argument("value", type=DEC)
@click.pass_context
def price_push(ctx, symbol, value):
    _run(ctx, lambda c: c.push_price(symbol, value))


@price.command("csv")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--symbol", help="symbol for every row (else a `symbol` column)")
@click.option("--interval", type=float, default=0.0, help="seconds between pushes")
@click.pass_context
def price_csv(ctx, path, symbol, interval):
    """Push every row of a CSV file (columns: price, and symbol unless --symbol), with a progress bar."""
    c: Client = ctx.obj["client"]
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    pushed = failed = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err) as progress:
        task = progress.add_task("pushing prices", total=len(rows))
        for i, row in enumerate(rows, 1):
            sym = symbol or row.get("symbol")
            try:
                value = Decimal(str(row["price"]).strip())
                c.push_price(sym, value)
                pushed += 1
            except (SimtradeError, KeyError, InvalidOperation) as e:
                failed += 1
                err.print(f"row {i}: {e}")
            progress.advance(task)
            if interval:
                time.sleep(interval)
    console.print(f"pushed {pushed}, failed {failed}")
    sys.exit(1 if failed else 0)


# --- trading ------------------------------------------------------------------------------------------------

@main.command()
@click.option("--symbol")
@click.option("--status")
@click.pass_context
def orders(ctx, symbol, status):
    """Own orders."""
    _run(ctx, lambda c: c.orders(symbol=symbol, status=status))


@main.command()
@click.pass_context
def positions(ctx):
    """Open positions."""
    _run(ctx, lambda c: c.positions())


@main.command("order")
@click.argument("symbol")
@click.argument("side", type=click.Choice(["buy", "sell"]))
@click.argument("quantity", type=DEC)
@click.option("--price", type=DEC, help="limit price (a limit order)")
@click.option("--leverage", type=DEC, default=Decimal(1))
@click.pass_context
def place_order(ctx, symbol, side, quantity, price, leverage):
    """Place a market (or, with --price, a limit) order."""
    _run(ctx, lambda c: c.place_order(symbol, side, quantity, type="limit" if price else "market", price=price,
                                      leverage=leverage))


@main.group()
def pair():
    """Liquidity pairs (market makers)."""


@pair.command("place")
@click.argument("symbol")
@click.argument("bid", type=DEC)
@click.argument("ask", type=DEC)
@click.argument("quantity", type=DEC)
@click.option("--leverage", type=DEC, default=Decimal(1))
@click.pass_context
def pair_place(ctx, symbol, bid, ask, quantity, leverage):
    _run(ctx, lambda c: c.place_pair(symbol, bid, ask, quantity, leverage))


@pair.command("reprice")
@click.argument("pair_id")
@click.argument("bid", type=DEC)
@click.argument("ask", type=DEC)
@click.pass_context
def pair_reprice(ctx, pair_id, bid, ask):
    _run(ctx, lambda c: c.reprice(pair_id, bid, ask))


@pair.command("cancel")
@click.argument("pair_id")
@click.pass_context
def pair_cancel(ctx, pair_id):
    _run(ctx, lambda c: c.cancel_pair(pair_id))


@pair.command("list")
@click.option("--symbol")
@click.option("--status", default="pending")
@click.pass_context
def pair_list(ctx, symbol, status):
    _run(ctx, lambda c: c.pairs(symbol=symbol, status=status))


@pair.command("cancel-all")
@click.option("--symbol")
@click.pass_context
def pair_cancel_all(ctx, symbol):
    _run(ctx, lambda c: c.cancel_all(symbol))


# --- WebSocket ----------------------------------------------------------------------------------------------

@main.command()
@click.argument("channel")
@click.option("--symbol")
@click.option("--interval")
@click.option("--count", type=int, default=0, help="stop after this many messages (0: forever)")
@click.pass_context
def tail(ctx, channel, symbol, interval, count):
    """Print a channel's messages (ticker, kline, depth, trades; orders, positions, account after login)."""
    from simtrade.ws import Stream

    async def go():
        n = 0
        async with Stream(ctx.obj["client"]) as stream:
            await stream.subscribe(channel, symbol, interval)
            async for msg in stream:
                console.print_json(json.dumps(msg.model_dump(mode="python", exclude_none=True), default=_jsonable))
                n += 1
                if count and n >= count:
                    return
    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass


# --- broker -------------------------------------------------------------------------------------------------

@main.group()
def broker():
    """Broker API v1 (--api-key / SIMTRADE_API_KEY) and the broker panel (session)."""


@broker.command("balance")
@click.pass_context
def broker_balance(ctx):
    _run(ctx, lambda c: c.broker.balance())


@broker.command("clients")
@click.option("--limit", type=int)
@click.pass_context
def broker_clients(ctx, limit):
    _run(ctx, lambda c: c.broker.clients(limit=limit).items)


@broker.command("client-create")
@click.argument("user_id")
@click.option("--email")
@click.option("--password")
@click.pass_context
def broker_client_create(ctx, user_id, email, password):
    _run(ctx, lambda c: c.broker.create_client(user_id, email=email, password=password))


@broker.command("deposit")
@click.argument("client_id")
@click.argument("amount", type=DEC)
@click.option("--reference")
@click.pass_context
def broker_deposit(ctx, client_id, amount, reference):
    """Move DCT from the broker to a client (one Idempotency-Key, reused by retries)."""
    _run(ctx, lambda c: c.broker.deposit(client_id, amount, reference))


@broker.command("transfers")
@click.option("--client-id")
@click.option("--type", "kind", type=click.Choice(["deposit", "withdraw"]))
@click.pass_context
def broker_transfers(ctx, client_id, kind):
    _run(ctx, lambda c: c.broker.transfers(client_id=client_id, type=kind).get("transfers", []))


@broker.command("api-keys")
@click.pass_context
def broker_api_keys(ctx):
    _run(ctx, lambda c: c.api_keys())


@main.group()
def webhooks():
    """Webhook deliveries of the broker's API keys (session, role broker)."""


@webhooks.command("deliveries")
@click.option("--status")
@click.option("--event")
@click.pass_context
def webhook_deliveries(ctx, status, event):
    _run(ctx, lambda c: c.webhook_deliveries(status=status, event=event))


@webhooks.command("redeliver")
@click.argument("delivery_id")
@click.pass_context
def webhook_redeliver(ctx, delivery_id):
    _run(ctx, lambda c: c.redeliver(delivery_id))


# --- the market maker ---------------------------------------------------------------------------------------

@main.group()
def mm():
    """The reference market-making bot."""


@mm.command("run")
@click.option("--symbol", "symbols", multiple=True, required=True, help="repeat for several symbols")
@click.option("--spread", type=DEC, default=Decimal("0.002"), show_default=True,
              help="relative spread around the reference (0.002 = 20 bp); --absolute for a price distance")
@click.option("--absolute", is_flag=True, help="--spread is a price distance, not a fraction")
@click.option("--quantity", type=DEC, help="quantity a side")
@click.option("--notional", type=DEC, help="DCT a side instead of --quantity (sized from the price at start)")
@click.option("--leverage", type=DEC, default=Decimal(1), show_default=True)
@click.option("--interval", type=float, default=1.5, show_default=True, help="seconds between reprices (>= 1)")
@click.option("--dead-man-ms", type=int, default=15000, show_default=True, help="0: do not use the switch")
@click.option("--cancel-on-disconnect-ms", type=int, default=5000, show_default=True, help="0: do not ask")
@click.option("--report-every", type=float, default=10.0, show_default=True)
@click.pass_context
def mm_run(ctx, symbols, spread, absolute, quantity, notional, leverage, interval, dead_man_ms, cancel_on_disconnect_ms,
           report_every):
    """Quote a pair per symbol around the reference price until SIGINT/SIGTERM; cancel everything on exit."""
    from simtrade.bot import MarketMaker
    if (quantity is None) == (notional is None):
        raise click.UsageError("give --quantity or --notional")
    logging.getLogger().setLevel(min(logging.getLogger().level, logging.INFO))
    client: Client = ctx.obj["client"]
    bot = MarketMaker(client, list(symbols), spread, quantity, leverage=leverage, interval=interval,
                      absolute_spread=absolute, dead_man_ms=dead_man_ms,
                      cancel_on_disconnect_ms=cancel_on_disconnect_ms, report_every=report_every, notional=notional)

    async def go():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bot.stop)
        await bot.run()
    try:
        asyncio.run(go())
    except SimtradeError as e:
        err.print(f"[red]mm stopped:[/red] {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
