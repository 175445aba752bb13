"""JSON with exact decimals: numbers parse to Decimal and Decimals serialize as JSON numbers (never via float)."""
from decimal import Decimal

import simplejson


class BadJson(ValueError):
    pass


def _reject_constant(name):  # NaN, Infinity, -Infinity are not JSON
    raise BadJson(f"non-finite number {name} is not allowed")


def loads(raw: str | bytes):
    try:
        return simplejson.loads(raw, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)
    except BadJson:
        raise
    except (ValueError, TypeError) as e:
        raise BadJson(f"malformed JSON: {e}") from None


def _normalize(value: Decimal) -> Decimal:
    # 1400.000000 -> 1400, 1E+3 -> 1000: a plain, minimal representation on the wire.
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _default(obj):
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _walk(obj):
    if isinstance(obj, Decimal):
        return _normalize(obj)
    if isinstance(obj, dict):
        return {k: _walk(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_walk(v) for v in obj]
    return obj


def dumps(obj) -> str:
    return simplejson.dumps(_walk(obj), use_decimal=True, separators=(",", ":"), ensure_ascii=False, default=_default)
