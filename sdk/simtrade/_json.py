"""JSON with exact decimals: numbers parse to Decimal (never float), Decimals go out as decimal strings (the
contract accepts a JSON number or a decimal string for every numeric field and parses both exactly)."""
import json
from decimal import Decimal


def loads(text: str | bytes):
    return json.loads(text, parse_float=Decimal)


def _default(o):
    if isinstance(o, Decimal):
        if not o.is_finite():
            raise ValueError(f"not a finite decimal: {o}")
        return format(o, "f")
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="python", by_alias=True, exclude_none=True)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def dumps(obj) -> str:
    if isinstance(obj, float) or _has_float(obj):
        raise TypeError("floats are not accepted: pass Decimal (or str/int) amounts and prices")
    return json.dumps(obj, default=_default, separators=(",", ":"), ensure_ascii=False)


def _has_float(obj) -> bool:
    if isinstance(obj, float):
        return True
    if isinstance(obj, dict):
        return any(_has_float(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_float(v) for v in obj)
    return False


def dec(value) -> Decimal:
    """Decimal from a Decimal, int or decimal string; a float is refused (it is already inexact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not accepted: pass Decimal or a decimal string")
    return Decimal(str(value))
