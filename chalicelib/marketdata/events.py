"""Event handlers of the market-data pipeline (called by the thin Lambda handlers in app.py)."""


def on_tick_records(records: list) -> None:
    """DynamoDB stream batch of the ticks table: candles, throttled broadcast, matching trigger."""


def on_broadcast_messages(messages: list) -> None:
    """SQS batch of the broadcast queue (trailing-edge broadcasts and fan-out chunks)."""
