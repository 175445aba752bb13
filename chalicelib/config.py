"""Settings, read from environment variables (set by .chalice/config.json in AWS and by the local stack)."""
import os
from decimal import Decimal


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def table_name(logical: str) -> str:
    """Physical table name for a logical table ('main', 'ticks', 'connections')."""
    return env(f"{logical.upper()}_TABLE", f"{env('TABLE_PREFIX', 'sim-')}{logical}")


def queue_url(logical: str) -> str:
    return env(f"{logical.upper()}_QUEUE_URL", "")


def region() -> str:
    return env("AWS_DEFAULT_REGION", "us-east-1")


def dynamodb_endpoint() -> str | None:
    return env("DYNAMODB_ENDPOINT") or None


def withdrawal_fee_rate() -> Decimal:
    return Decimal(env("WITHDRAWAL_FEE_RATE", "0.01"))


def max_body_bytes() -> int:
    return int(env("MAX_BODY_BYTES", "65536"))


def stream_arn(logical: str) -> str:
    """The stream ARN an @app.on_dynamodb_record handler is bound to. In AWS the merged template replaces it
    with the table's real StreamArn (infra/resources.json); locally the pump reads the table name from it."""
    return env(f"{logical.upper()}_STREAM_ARN",
               f"arn:aws:dynamodb:{region()}:000000000000:table/{table_name(logical)}/stream/local")


def queue_name(logical: str) -> str:
    return f"{env('TABLE_PREFIX', 'sim-')}{logical}"
