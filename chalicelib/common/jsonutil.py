"""JSON with exact decimals: numbers parse to Decimal and Decimals serialize as JSON numbers (never via float)."""
from decimal import Decimal

import simplejson


class BadJson(ValueError):
    pass


def _reject_constant(name):  # NaN, Infinity, -Infinity are not JSON
    raise BadJson(f"non-finite number {name} is not allowed")


MAX_DEPTH = 32  # nesting of arrays and objects in a request body (no endpoint needs more than 4)


def _too_deep(raw: str | bytes) -> bool:
    """Nesting deeper than MAX_DEPTH, outside strings. The common case (few brackets) is two count() calls."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def loads(raw: str | bytes):
    """Exact JSON: every number (1, 0.1, 1e5) is a Decimal; NaN/Infinity and nesting over MAX_DEPTH are BadJson."""
    if _too_deep(raw):
        raise BadJson(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return simplejson.loads(raw, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant)
    except BadJson:
        raise
    except RecursionError:
        raise BadJson(f"JSON nested deeper than {MAX_DEPTH} levels") from None
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
