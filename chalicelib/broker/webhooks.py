"""Webhook delivery (SQS queue handler)."""


def on_webhook_messages(messages: list) -> None:
    """SQS batch of the webhooks queue: deliver each event, schedule retries with backoff."""
