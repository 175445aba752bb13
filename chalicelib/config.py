"""Derived settings: physical names of tables, queues and streams per logical name, and typed shortcuts.

Every variable is declared once, with its default and meaning, in chalicelib/settings.py; this module only
derives from it.
"""
from decimal import Decimal

from chalicelib import settings


def _s() -> settings.Settings:
    return settings.get()


def table_name(logical: str) -> str:
    """Physical table name for a logical table ('main', 'ticks', 'connections', 'market')."""
    return getattr(_s(), f"{logical}_table", None) or f"{_s().table_prefix}{logical}"


def queue_url(logical: str) -> str:
    return getattr(_s(), f"{logical}_queue_url", "") or ""


def queue_name(logical: str) -> str:
    return f"{_s().table_prefix}{logical}"


def region() -> str:
    return _s().aws_default_region


def dynamodb_endpoint() -> str | None:
    return _s().dynamodb_endpoint


def sqs_endpoint() -> str | None:
    return _s().sqs_endpoint


def withdrawal_fee_rate() -> Decimal:
    return _s().withdrawal_fee_rate


def withdrawal_cooling_ms() -> int:
    return int(_s().withdrawal_cooling_seconds * 1000)


def max_body_bytes() -> int:
    return _s().max_body_bytes


def stream_arn(logical: str) -> str:
    """The stream ARN an @app.on_dynamodb_record handler is bound to. In AWS the merged template replaces it
    with the table's real StreamArn (infra/resources.json); locally the pump reads the table name from it."""
    return getattr(_s(), f"{logical}_stream_arn", None) or \
        f"arn:aws:dynamodb:{region()}:000000000000:table/{table_name(logical)}/stream/local"
