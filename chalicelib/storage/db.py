"""pynamodb plumbing shared by every capability: exact Decimal attributes, table binding, transactions."""
from decimal import Decimal

from pynamodb.attributes import Attribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.constants import NUMBER
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import config


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number kept as Decimal end to end (pynamodb's NumberAttribute goes through float)."""
    attr_type = NUMBER

    def serialize(self, value):
        if not isinstance(value, Decimal):
            value = Decimal(str(value))
        if not value.is_finite():
            raise ValueError("non-finite number")
        return str(value)

    def deserialize(self, value):
        return Decimal(value)


class IntAttribute(NumberAttribute):
    def deserialize(self, value):
        return int(Decimal(value))


_MODELS: list[type[Model]] = []


def register(model: type[Model]) -> type[Model]:
    """Class decorator: the model's table and endpoint follow configure()."""
    _MODELS.append(model)
    _bind(model)
    return model


def _bind(model):
    model.Meta.table_name = config.table_name(model.Meta.logical_table)
    model.Meta.host = config.dynamodb_endpoint()
    model.Meta.region = config.region()
    model._connection = None


def configure() -> None:
    """Re-read the environment (endpoint, table names) for every model; tests and the local stack call this."""
    global _connection
    for m in _MODELS:
        _bind(m)
    _connection = None


_connection: Connection | None = None


def connection() -> Connection:
    """The pynamodb Connection for TransactWrite/TransactGet (same endpoint as the models)."""
    global _connection
    if _connection is None:
        _connection = Connection(region=config.region(), host=config.dynamodb_endpoint())
    return _connection


class MainModel(Model):
    """An item of the single 'main' table: pk/sk plus two overloaded GSIs (see docs/architecture.md)."""

    class Meta:
        logical_table = "main"
        table_name = "sim-main"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class Gsi1(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex):
    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


def get_or_none(model: type[Model], *key, **kwargs):
    """`model.get(*key, **kwargs)`, or None when the item does not exist (the one place that catches DoesNotExist)."""
    try:
        return model.get(*key, **kwargs)
    except DoesNotExist:
        return None


def is_condition_failure(e: Exception) -> bool:
    """True when a pynamodb write error (PutError, UpdateError, DeleteError, ...) is a failed condition expression
    (the one place that recognises it)."""
    cause = getattr(e, "cause_response_code", None) or ""
    return "ConditionalCheckFailed" in str(cause) or "ConditionalCheckFailed" in str(e)
