"""Cursor pagination over DynamoDB queries: `limit` (default 50, max 500) and an opaque `cursor`.

A cursor is base64url(JSON of the key attributes of the last item returned). The query fetches limit+1 items,
so `next_cursor` is returned only when more items really remain. A cursor is bound to the partition it came from:
one from another query (another broker, another client) is 400 INVALID_CURSOR, never a look elsewhere.
"""
import base64
import json

from chalicelib.common.errors import bad_request

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def encode(item, key_attrs: tuple[str, ...]) -> str:
    raw = json.dumps({a: getattr(item, a) for a in key_attrs}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str | None, key_attrs: tuple[str, ...], hash_attr: str, hash_value: str) -> dict | None:
    if not cursor:
        return None
    try:
        if len(cursor) > 2048:
            raise ValueError
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or set(data) != set(key_attrs) or \
                not all(isinstance(v, str) for v in data.values()) or data[hash_attr] != hash_value:
            raise ValueError
    except ValueError:
        raise bad_request("cursor is not valid for this list", "INVALID_CURSOR") from None
    return {k: {"S": v} for k, v in data.items()}


def query_page(source, hash_value: str, *, key_attrs: tuple[str, ...], hash_attr: str, limit: int,
               cursor: str | None, range_key_condition=None, filter_condition=None, newest_first: bool = True,
               consistent: bool = False):
    """(items, next_cursor) of one page of `source.query(hash_value, ...)` (a Model or an Index)."""
    start = decode(cursor, key_attrs, hash_attr, hash_value)
    kw = {"consistent_read": True} if consistent else {}
    it = source.query(hash_value, range_key_condition, filter_condition, scan_index_forward=not newest_first,
                      limit=limit + 1, page_size=limit + 1, last_evaluated_key=start, **kw)
    items = list(it)
    more = len(items) > limit
    items = items[:limit]
    return items, (encode(items[-1], key_attrs) if more and items else None)
