"""Event handlers of the trading engine (called by the thin Lambda handlers in app.py)."""


def on_matching_messages(messages: list) -> None:
    """SQS batch of the matching queue: run the matching check of each symbol named."""


def sweep() -> None:
    """Once a minute: a matching check for every symbol with open orders and no recent tick."""
