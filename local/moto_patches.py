"""Emulator fixes for moto 5.2.5, applied wherever moto serves this project (the local stack's moto process and the
in-process moto of the tests). They fix moto, never the app: real DynamoDB and DynamoDB Local need none of this.

Number arithmetic: moto parses a stored number for `ADD` / `SET a = a + :b` with int() unless it contains a '.',
and stores the result as str(Decimal). A sum such as 700.00000000 + -700.00000000 is stored as '0E-8' and the next
ADD on that attribute raises ValueError (a 500 from the emulator). Decimal reads every DynamoDB number.

Stream retention (local stack only, apply(trim_streams=N)): moto keeps every stream record forever and deep-copies
tables (with their stream records) for every transaction, so a long `make run` with the demo feeder grows slower
and bigger by the minute. DynamoDB keeps stream records 24 h; here a shard keeps its newest N records and its
StartingSequenceNumber moves up as older ones are trimmed, as a real shard's trim horizon does.
"""
from decimal import Decimal

_applied = False


def apply(trim_streams: int | None = None) -> None:
    global _applied
    if _applied:
        return
    if trim_streams:
        _trim_streams(trim_streams)
    from moto.dynamodb.exceptions import IncorrectDataType
    from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

    def add(self, other):
        if self.type != other.type:
            raise TypeError("Different types of operandi is not allowed.")
        if self.is_number():
            return DynamoType({DDBType.NUMBER: _plain(Decimal(self.value) + Decimal(other.value))})
        raise IncorrectDataType()

    def sub(self, other):
        if self.type != other.type or self.type != DDBType.NUMBER:
            raise TypeError("Sum only supported for Numbers.")
        return DynamoType({DDBType.NUMBER: _plain(Decimal(self.value) - Decimal(other.value))})

    DynamoType.__add__ = add
    DynamoType.__sub__ = sub
    _applied = True


def _plain(value: Decimal) -> str:
    """A number as DynamoDB would return it: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _trim_streams(keep: int) -> None:
    from moto.dynamodb.models.table import StreamShard
    real_add = StreamShard.add

    def add(self, old, new):
        real_add(self, old, new)
        if len(self.items) > 2 * keep:
            drop = len(self.items) - keep
            del self.items[:drop]
            self.starting_sequence_number += drop

    def get(self, start, quantity):
        # a reader behind the trim horizon continues from it (those records expired), instead of an assert
        return real_get(self, max(start, self.starting_sequence_number), quantity)

    real_get = StreamShard.get
    StreamShard.add = add
    StreamShard.get = get
