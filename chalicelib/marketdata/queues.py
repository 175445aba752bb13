"""SQS adapters of the pipeline: delayed broadcast flushes, fan-out chunks and matching triggers.

Message bodies (JSON):
  broadcast queue  {"kind": "flush", "symbol": "XAUUSD", "channel": "market"|"depth"|"trades", "at": <slot ms>}
                   {"kind": "chunk", "topic": "ticker#XAUUSD", "data": "<message JSON>", "ids": [<connection id>...]}
  matching queue   {"symbol": "XAUUSD", "at": <slot ms>, "reason": "tick"}
"""
import json

from chalicelib import config
from chalicelib.common.sqs import client as sqs

MAX_DELAY_S = 900


def _url(logical: str) -> str:
    url = config.queue_url(logical)
    if not url:
        raise RuntimeError(f"{logical.upper()}_QUEUE_URL is not set")
    return url


def _delay(delay_s: int) -> int:
    return max(0, min(int(delay_s), MAX_DELAY_S))


def enqueue_flush(symbol: str, channel: str, at: int, delay_s: int) -> None:
    sqs().send_message(QueueUrl=_url("broadcast"), DelaySeconds=_delay(delay_s), MessageBody=json.dumps(
        {"kind": "flush", "symbol": symbol, "channel": channel, "at": at}))


def enqueue_chunks(topic: str, data: str, id_chunks: list[list[str]]) -> None:
    entries = [{"Id": str(n), "MessageBody": json.dumps({"kind": "chunk", "topic": topic, "data": data, "ids": ids})}
               for n, ids in enumerate(id_chunks)]
    url = _url("broadcast")
    for i in range(0, len(entries), 10):
        resp = sqs().send_message_batch(QueueUrl=url, Entries=entries[i:i + 10])
        if resp.get("Failed"):
            raise RuntimeError(f"{len(resp['Failed'])} fan-out chunk messages were not accepted")


def enqueue_matching(symbol: str, at: int, delay_s: int, reason: str = "tick") -> None:
    sqs().send_message(QueueUrl=_url("matching"), DelaySeconds=_delay(delay_s), MessageBody=json.dumps(
        {"symbol": symbol, "at": at, "reason": reason}))
