"""Shared pieces of the response models (chalicelib/<capability>/responses.py): what the OpenAPI document says
the views answer. Imported only by the document's builder (chalicelib/openapi/service.py resolves the routes'
`response="module:Name"` strings), never on the HTTP handler's import path.

Money, prices and quantities are Decimal inside and JSON numbers on the wire (common/jsonutil): `Money`.
Timestamps are integers (milliseconds), except the broker v1 API's `*_at` fields (ISO-8601 strings).
Every model allows extra fields (additionalProperties: true): adding a field never breaks the document.
"""
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema

Money = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Ms = int  # milliseconds since the epoch
Iso = str  # ISO-8601 UTC ('2025-01-02T03:04:05.678Z'), the broker v1 API's *_at fields


class View(BaseModel):
    """Base of every response model: fields without a default are always present (required); `X | None` may be
    null; a field with a default may be absent."""
    model_config = ConfigDict(extra="allow", defer_build=True)


class Ok(View):
    ok: bool
