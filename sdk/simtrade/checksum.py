"""Depth checksum (the contract's Kraken scheme): CRC32 (unsigned, decimal) of the concatenation, for the 10
best asks (lowest first) then the 10 best bids (highest first), of each level's price and quantity formatted
with the symbol's pricePrecision / quantityPrecision, the '.' removed and leading zeros stripped."""
import zlib
from decimal import ROUND_HALF_UP, Decimal


def _fmt(value, places: int) -> str:
    d = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP) if places > 0 \
        else Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    s = format(d, "f").replace(".", "").lstrip("0")
    return s or "0"


def depth_checksum(bids, asks, price_precision: int, quantity_precision: int, levels: int = 10) -> int:
    asks_sorted = sorted(asks, key=lambda lv: Decimal(str(lv[0])))[:levels]
    bids_sorted = sorted(bids, key=lambda lv: Decimal(str(lv[0])), reverse=True)[:levels]
    text = "".join(_fmt(p, price_precision) + _fmt(q, quantity_precision) for p, q, *_ in asks_sorted + bids_sorted)
    return zlib.crc32(text.encode()) & 0xFFFFFFFF
