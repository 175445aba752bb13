"""JSON with exact decimals: numbers parse to Decimal (never float), Decimals go out as JSON numbers with
exactly their digits (no float on the way)."""
import json
from decimal import Decimal


def loads(text: str | bytes):
    return json.loads(text, parse_float=Decimal)


def dumps(obj) -> str:
    """Compact JSON where a Decimal is written as a JSON number with exactly its digits (`"price": 2350.10`),
    as the contract's examples do; floats are refused (they are already inexact)."""
    return "".join(_encode(obj))


def _encode(o):
    if o is None or isinstance(o, (bool, str)):
        yield json.dumps(o, ensure_ascii=False)
    elif isinstance(o, Decimal):
        if not o.is_finite():
            raise ValueError(f"not a finite decimal: {o}")
        yield format(o, "f")
    elif isinstance(o, int):
        yield str(o)
    elif isinstance(o, float):
        raise TypeError("floats are not accepted: pass Decimal (or str/int) amounts and prices")
    elif isinstance(o, dict):
        yield "{"
        for i, (k, v) in enumerate(o.items()):
            yield ("," if i else "") + json.dumps(str(k), ensure_ascii=False) + ":"
            yield from _encode(v)
        yield "}"
    elif isinstance(o, (list, tuple)):
        yield "["
        for i, v in enumerate(o):
            if i:
                yield ","
            yield from _encode(v)
        yield "]"
    elif hasattr(o, "model_dump"):
        yield from _encode(o.model_dump(mode="python", by_alias=True, exclude_none=True))
    else:
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def dec(value) -> Decimal:
    """Decimal from a Decimal, int or decimal string; a float is refused (it is already inexact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not accepted: pass Decimal or a decimal string")
    return Decimal(str(value))
