"""SQS, once: the shared client (one per endpoint and region, thread-safe creation) and the body parser of a
queue handler's messages (chalice SQSRecord or a plain {"body": ...} dict)."""
import json
import threading

_clients: dict[str, object] = {}
_lock = threading.Lock()


def client():
    import boto3  # lazy: only queue producers pay for it
    from botocore.config import Config

    from chalicelib import config
    endpoint = config.sqs_endpoint()
    key = f"{endpoint}|{config.region()}"
    with _lock:  # boto3 client creation is not thread-safe
        c = _clients.get(key)
        if c is None:
            c = boto3.session.Session().client(
                "sqs", region_name=config.region(), endpoint_url=endpoint,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=10,
                              max_pool_connections=16))
            _clients[key] = c
    return c


def message_body(message) -> dict | None:
    """The JSON object a message carries, or None (no body, not JSON, not an object)."""
    raw = getattr(message, "body", None)
    if raw is None and isinstance(message, dict):
        raw = message.get("body")
    try:
        body = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return body if isinstance(body, dict) else None
