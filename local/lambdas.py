"""Lambda's side of the app's event sources: invocation, EventBridge schedules, and the event source mappings
that poll DynamoDB Streams and SQS. Events are built in the shapes Lambda delivers and passed through JSON,
so handlers see exactly what they would see in AWS.
"""
import base64
import datetime as dt
import itertools
import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig
from chalice.local import LambdaContext

log = logging.getLogger("local.lambdas")
ACCOUNT = "123456789012"


def _json_default(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime):
        return int(value.timestamp())
    raise TypeError(f"not JSON: {type(value).__name__}")


def as_json(event: dict) -> dict:
    """What Lambda hands a handler: plain JSON (bytes become base64, timestamps epoch seconds)."""
    return json.loads(json.dumps(event, default=_json_default))


class Invoker:
    """Calls the app's Lambda handlers (by Chalice handler name) as Lambda does: handler(event, context)."""

    def __init__(self, app, timeout_s: int = 60):
        self.app = app
        self.timeout_ms = timeout_s * 1000

    def context(self, name: str) -> LambdaContext:
        return LambdaContext(function_name=f"{self.app.app_name}-local-{name}", memory_size=256,
                             max_runtime_ms=self.timeout_ms)

    def __call__(self, name: str, event: dict):
        return self.app.handler_map[name](as_json(event), self.context(name))


class Worker(threading.Thread):
    def __init__(self, name: str, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.stop = stop
        # what GET /_local/stats shows: whether the pump keeps up (records, handler time, lag of the last batch:
        # queues only, from SentTimestamp; DynamoDB Local gives stream records a creation time in whole minutes)
        self.stats = {"invocations": 0, "records": 0, "handler_s": 0.0, "lag_s": 0.0, "max_lag_s": 0.0}
        self._stats_lock = threading.Lock()

    def setup(self):
        """Runs before start(), in the caller's thread: resolve the source, fail loudly if it is missing."""

    def invoke(self, invoker: "Invoker", name: str, event: dict, records: int, lag_s: float = 0.0):
        t = time.monotonic()
        try:
            return invoker(name, event)
        finally:
            with self._stats_lock:
                self._count(records, time.monotonic() - t, lag_s)

    def _count(self, records: int, seconds: float, lag_s: float):
        s = self.stats
        s["invocations"] += 1
        s["records"] += records
        s["handler_s"] = round(s["handler_s"] + seconds, 3)
        s["lag_s"] = round(max(0.0, lag_s), 3)
        s["max_lag_s"] = max(s["max_lag_s"], s["lag_s"])


# --- EventBridge schedules --------------------------------------------------------------------------------

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def schedule_interval(expression) -> float:
    """Seconds between runs: rate(N unit[s]) exactly; any cron(...) runs once a minute."""
    text = expression if isinstance(expression, str) else expression.to_string()
    m = re.fullmatch(r"rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)", text.strip())
    if m:
        return int(m[1]) * _UNITS[m[2]]
    if text.strip().startswith("cron("):
        return 60.0
    raise ValueError(f"unsupported schedule expression {text!r}")


class Scheduler(Worker):
    def __init__(self, invoker: Invoker, source: ScheduledEventConfig, stop: threading.Event, scale: float, region):
        super().__init__(f"schedule-{source.name}", stop)
        self.invoker, self.source, self.region = invoker, source, region
        self.interval = schedule_interval(source.schedule_expression) / scale
        self.rule_arn = f"arn:aws:events:{region}:{ACCOUNT}:rule/{invoker.app.app_name}-local-{source.name}"

    def event(self) -> dict:
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": ACCOUNT, "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.region, "resources": [self.rule_arn], "detail": {}}

    def run(self):
        next_at = time.monotonic() + self.interval
        while not self.stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self.interval
            try:
                self.invoke(self.invoker, self.source.name, self.event(), 0)
            except Exception:
                log.exception("schedule %s failed", self.source.name)
            next_at = max(next_at, time.monotonic())  # a run longer than the rate: no burst of catch-up runs


# --- DynamoDB Streams event source mapping ----------------------------------------------------------------

def table_of(stream_arn: str) -> str:
    m = re.search(r":table/([^/]+)", stream_arn)
    if not m:
        raise ValueError(f"not a DynamoDB stream ARN: {stream_arn!r}")
    return m[1]


class StreamPump(Worker):
    """Reads a table's stream shard by shard (children after their parents) and invokes the handler per batch.

    A failed batch is retried (backoff, capped at max_retries, then logged and skipped) before the shard moves on.
    """

    def __init__(self, invoker: Invoker, source: DynamoDBEventConfig, ddb, streams, stop: threading.Event,
                 poll_s: float = 0.15, max_retries: int = 10):
        super().__init__(f"stream-{source.name}", stop)
        self.invoker, self.source, self.ddb, self.streams = invoker, source, ddb, streams
        self.poll_s, self.max_retries = poll_s, max_retries
        self.batch_size = source.batch_size or 100
        self.window = source.maximum_batching_window_in_seconds or 0
        self.arn = None
        self.shards: dict[str, dict] = {}  # shard id -> {iterator, parent, pending, first_at, last_seq}
        self.finished: set[str] = set()

    def setup(self):
        table = table_of(self.source.stream_arn)
        self.arn = self.ddb.describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if not self.arn:
            raise RuntimeError(f"table {table} has no stream (its StreamSpecification is missing)")
        self._discover("TRIM_HORIZON" if self.source.starting_position == "TRIM_HORIZON" else "LATEST")
        for sid, shard in self.shards.items():  # positioned now, before anything else can write
            shard["iterator"] = self._iterator(sid, shard)

    def _discover(self, start: str = "TRIM_HORIZON"):
        kw = {"StreamArn": self.arn}
        while True:
            desc = self.streams.describe_stream(**kw)["StreamDescription"]
            for shard in desc["Shards"]:
                sid = shard["ShardId"]
                if sid not in self.shards and sid not in self.finished:
                    self.shards[sid] = {"iterator": None, "parent": shard.get("ParentShardId"), "start": start,
                                        "pending": [], "first_at": 0.0, "last_seq": None}
            if not desc.get("LastEvaluatedShardId"):
                return
            kw["ExclusiveStartShardId"] = desc["LastEvaluatedShardId"]

    def _iterator(self, sid: str, shard: dict) -> str:
        kw = {"StreamArn": self.arn, "ShardId": sid}
        if shard["last_seq"]:
            kw.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=shard["last_seq"])
        else:
            kw["ShardIteratorType"] = shard["start"]
        return self.streams.get_shard_iterator(**kw)["ShardIterator"]

    def run(self):
        next_discovery = 0.0
        while not self.stop.is_set():
            busy = False
            try:
                if time.monotonic() >= next_discovery:
                    self._discover()
                    next_discovery = time.monotonic() + 1.0
                for sid, shard in list(self.shards.items()):
                    if shard["parent"] in self.shards:
                        continue  # read a child only after its parent is drained
                    busy |= self._poll(sid, shard)
            except Exception as e:
                if self.stop.is_set():
                    return
                log.warning("stream %s: %s", self.source.name, e)
                self.stop.wait(1.0)
            if not busy:
                self.stop.wait(self.poll_s)

    def _poll(self, sid: str, shard: dict) -> bool:
        if shard["iterator"] is None:
            shard["iterator"] = self._iterator(sid, shard)
        try:
            resp = self.streams.get_records(ShardIterator=shard["iterator"], Limit=min(self.batch_size, 1000))
        except (self.streams.exceptions.ExpiredIteratorException,
                self.streams.exceptions.TrimmedDataAccessException) as e:
            # Re-read after the last delivered record. DynamoDB Local also answers TrimmedDataAccess for an
            # iterator taken while its shard was still empty, once the first record arrives: nothing was
            # delivered from the shard yet, so its trim horizon is exactly where reading must resume.
            log.debug("stream %s: %s; repositioning", self.source.name, e)
            if shard["last_seq"] is None:
                shard["start"] = "TRIM_HORIZON"
            shard["iterator"], shard["pending"] = None, []
            return True
        shard["iterator"] = resp.get("NextShardIterator")
        records = resp.get("Records", [])
        if records and not shard["pending"]:
            shard["first_at"] = time.monotonic()
        shard["pending"].extend(records)
        closed = shard["iterator"] is None
        while shard["pending"] and (closed or len(shard["pending"]) >= self.batch_size or not self.window
                                    or time.monotonic() - shard["first_at"] >= self.window):
            batch, shard["pending"] = shard["pending"][:self.batch_size], shard["pending"][self.batch_size:]
            self._deliver(batch)
            shard["last_seq"] = batch[-1]["dynamodb"]["SequenceNumber"]
            shard["first_at"] = time.monotonic()
        if closed:
            del self.shards[sid]
            self.finished.add(sid)
        return bool(records)

    def _deliver(self, records: list[dict]):
        event = {"Records": [{**r, "eventSourceARN": self.arn} for r in records]}
        for attempt in itertools.count():
            try:
                self.invoke(self.invoker, self.source.name, event, len(records))
                return
            except Exception:
                log.exception("stream handler %s failed (attempt %d, %d records)", self.source.name,
                              attempt + 1, len(records))
                if attempt >= self.max_retries or self.stop.wait(min(0.2 * 2 ** attempt, 5.0)):
                    log.error("stream handler %s: batch of %d records dropped", self.source.name, len(records))
                    return


# --- SQS event source mapping -----------------------------------------------------------------------------

def _message_attribute(v: dict) -> dict:
    out = {"stringListValues": v.get("StringListValues", []),
           "binaryListValues": [base64.b64encode(b).decode() for b in v.get("BinaryListValues", [])],
           "dataType": v["DataType"]}
    if "StringValue" in v:
        out["stringValue"] = v["StringValue"]
    if "BinaryValue" in v:
        out["binaryValue"] = base64.b64encode(v["BinaryValue"]).decode()
    return out


class QueuePump(Worker):
    """Long-polls a queue and invokes the handler per batch, up to `concurrency` batches at once (Lambda's SQS event
    source mapping runs batches in parallel invocations: a handler that waits, such as a throttled broadcast, does
    not hold up the queue). A handler success deletes the batch, a failure leaves it for redelivery after the
    queue's visibility timeout (no partial batch responses, as with Chalice)."""

    def __init__(self, invoker: Invoker, source: SQSEventConfig, sqs, stop: threading.Event, region: str,
                 index: int = 0, concurrency: int = 1):
        super().__init__(f"sqs-{source.name}-{index}", stop)
        self.invoker, self.source, self.sqs, self.region = invoker, source, sqs, region
        self.batch_size = source.batch_size or 10
        self.window = source.maximum_batching_window_in_seconds or 0
        self.url = self.arn = None
        self.concurrency = max(1, concurrency)
        self.slots = threading.BoundedSemaphore(self.concurrency)
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"sqs-{source.name}") \
            if self.concurrency > 1 else None

    def setup(self):
        name = self.source.queue or self.source.queue_arn.rsplit(":", 1)[-1]
        self.url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        self.arn = attrs["QueueArn"]

    def _receive(self, n: int, wait: int) -> list[dict]:
        return self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=min(n, 10), WaitTimeSeconds=wait,
                                        AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def record(self, m: dict) -> dict:
        r = {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m.get("Attributes", {}),
             "messageAttributes": {k: _message_attribute(v) for k, v in m.get("MessageAttributes", {}).items()},
             "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs", "eventSourceARN": self.arn,
             "awsRegion": self.region}
        if "MD5OfMessageAttributes" in m:
            r["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"]
        return r

    def run(self):
        try:
            self._run()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def _run(self):
        while not self.stop.is_set():
            if not self.slots.acquire(timeout=0.5):  # every slot busy: poll again once one frees
                continue
            try:
                messages = self._receive(self.batch_size, 1)
                deadline = time.monotonic() + self.window
                while messages and len(messages) < self.batch_size and time.monotonic() < deadline:
                    messages += self._receive(self.batch_size - len(messages), 0) or []
                    if len(messages) < self.batch_size:
                        self.stop.wait(0.05)
            except Exception as e:
                self.slots.release()
                if self.stop.is_set():
                    return
                log.warning("sqs %s: %s", self.source.name, e)
                self.stop.wait(1.0)
                continue
            if not messages:
                self.slots.release()
            elif self.pool is None:
                self._deliver(messages)
            else:
                self.pool.submit(self._deliver, messages)

    def _deliver(self, messages: list[dict]):
        try:
            self._invoke(messages)
        except Exception:
            log.exception("sqs %s: delivery failed", self.source.name)
        finally:
            self.slots.release()

    def _invoke(self, messages: list[dict]):
        sent = min(int(m.get("Attributes", {}).get("SentTimestamp", 0)) for m in messages)
        try:
            self.invoke(self.invoker, self.source.name, {"Records": [self.record(m) for m in messages]},
                        len(messages), time.time() - sent / 1000 if sent else 0.0)
        except Exception:
            log.exception("sqs handler %s failed; %d messages return after the visibility timeout",
                          self.source.name, len(messages))
            return
        for i in range(0, len(messages), 10):
            chunk = messages[i:i + 10]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)])


def workers(invoker: Invoker, clients, stop: threading.Event, region: str, schedule_scale: float = 1.0,
            stream_poll_s: float = 0.15, queue_concurrency: int = 8) -> list[Worker]:
    """One worker per schedule, stream mapping and SQS queue of the app (other event sources: logged). A queue
    runs up to its maximum_concurrency batches at once (queue_concurrency when unset); a stream shard one batch
    at a time, in order, as Lambda does."""
    out: list[Worker] = []
    for src in invoker.app.event_sources:
        if isinstance(src, ScheduledEventConfig):
            out.append(Scheduler(invoker, src, stop, schedule_scale, region))
        elif isinstance(src, DynamoDBEventConfig):
            out.append(StreamPump(invoker, src, clients("dynamodb"), clients("dynamodbstreams"), stop, stream_poll_s))
        elif isinstance(src, SQSEventConfig):
            out.append(QueuePump(invoker, src, clients("sqs"), stop, region,
                                 concurrency=src.maximum_concurrency or queue_concurrency))
        else:
            log.warning("event source %s (%s) is not emulated locally", src.name, type(src).__name__)
    return out
