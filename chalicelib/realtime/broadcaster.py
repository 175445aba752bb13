"""Sends through the API Gateway management API (post_to_connection), exactly as in AWS.

The endpoint comes from configuration (WS_MANAGEMENT_ENDPOINT: https://<apiId>.execute-api.<region>.amazonaws.com/<stage>
in AWS; the local stack's emulation locally), so WebSocket, stream, queue and schedule handlers all send the same way.
Fan-out is parallel (a thread pool) over chunks of subscribers; a 410 Gone removes the dead connection.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

from chalicelib import config, settings
from chalicelib.common import jsonutil
from chalicelib.common.logging import logger
from chalicelib.realtime import store

_client_lock = threading.Lock()
_shared_client = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
FANOUT_THREADS = settings.get().ws_fanout_threads  # sizes the pools made once per Lambda instance


def _client():
    """One boto3 client shared by every fan-out thread (clients are thread-safe; creating 32 costs seconds)."""
    global _shared_client
    endpoint = settings.get().ws_management_endpoint
    with _client_lock:
        if _shared_client is None or _shared_client[0] != endpoint:
            _shared_client = endpoint, boto3.session.Session().client(
                "apigatewaymanagementapi", endpoint_url=endpoint or None, region_name=config.region(),
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=FANOUT_THREADS,
                              connect_timeout=2, read_timeout=5))
        return _shared_client[1]


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=FANOUT_THREADS, thread_name_prefix="ws-fanout")
    return _pool


def send(connection_id: str, message: dict | str) -> bool:
    """Send one message; False (and the connection removed) when the connection is gone."""
    data = message if isinstance(message, str) else jsonutil.dumps(message)
    client = _client()
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data.encode())
        return True
    except client.exceptions.GoneException:
        store.remove_connection(connection_id)
        return False
    except Exception:
        logger.warning("post_to_connection failed", extra={"connectionId": connection_id})
        return False


def send_many(connection_ids: list[str], message: dict | str) -> int:
    if not connection_ids:
        return 0
    data = message if isinstance(message, str) else jsonutil.dumps(message)
    if len(connection_ids) == 1:
        return int(send(connection_ids[0], data))
    return sum(_executor().map(lambda cid: send(cid, data), connection_ids))


def broadcast(topic: str, message: dict) -> int:
    """Send `message` to every subscriber of `topic`; returns the number delivered."""
    return send_many(store.subscribers(topic), message)
