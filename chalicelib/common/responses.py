"""Shared pieces of the response models (chalicelib/<capability>/responses.py): what the OpenAPI document says
the views answer. Imported only by the document's builder (chalicelib/openapi/service.py resolves the routes'
`response="module:Name"` strings), never on the HTTP handler's import path.

Money, prices and quantities are Decimal inside and JSON numbers on the wire (common/jsonutil): `Money`.
Timestamps are integers (milliseconds), except the broker v1 API's `*_at` fields (ISO-8601 strings).
Every model allows extra fields (additionalProperties: true): adding a field never breaks the document.

Required: what a client may rely on. Where the contract (shared/spec/api-contract.md) names an answer's fields, the
required ones are those of its fields that are always present; the fields the app adds beyond it are documented
(properties, with their types) but listed in the model's `beyond_contract`, so not required: the SDK's typed
models (sdk/simtrade/models.py, checked against this document) know the contract's fields only. Where the contract
names no fields, every always-present field is required.
"""
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, WithJsonSchema

Money = Annotated[Decimal, WithJsonSchema({"type": "number"})]
Ms = int  # milliseconds since the epoch
Iso = str  # ISO-8601 UTC ('2025-01-02T03:04:05.678Z'), the broker v1 API's *_at fields


def _not_promised(schema: dict, cls) -> None:
    beyond = {name for c in cls.__mro__ for name in vars(c).get("beyond_contract", ())}
    if beyond and "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in beyond]
        if not schema["required"]:
            del schema["required"]


class View(BaseModel):
    """Base of every response model: fields without a default are always present (required unless named in
    `beyond_contract`); `X | None` may be null; a field with a default may be absent."""
    model_config = ConfigDict(extra="allow", defer_build=True, json_schema_extra=_not_promised)
    beyond_contract: ClassVar[tuple] = ()  # always present today, but not the contract's: documented, not required


class Ok(View):
    ok: bool
