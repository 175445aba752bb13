"""Market-data test fixtures: the ticks stream pumped into the real handler, broadcasts captured, a fake clock."""
import json
from collections import defaultdict

import boto3
import pytest

import chalicelib.marketdata.routes  # noqa: F401  (registers the WebSocket channels, as app.py's import does)
from tests.fixtures.aws import REGION


class StreamPump:
    """Reads a table's stream (the ticks table unless told; moto in-process or DynamoDB Local) and hands the
    records to the real stream handler in Lambda's shape, as the event source mapping does."""

    def __init__(self, stack, table: str = "ticks"):
        endpoint = stack.endpoint or f"https://streams.dynamodb.{REGION}.amazonaws.com"
        self.streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint)
        ddb = stack.dynamodb()
        self.arn = ddb.describe_table(TableName=stack.tables[table])["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]["ShardId"]
        self.iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard,
                                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        self.delivered: list[list[dict]] = []

    def read(self) -> list[dict]:
        out = []
        while True:
            resp = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = resp["NextShardIterator"]
            recs = resp.get("Records", [])
            if not recs:
                return [json.loads(json.dumps(r, default=str)) for r in out]
            out += recs

    def pump(self, batch_size: int = 100) -> int:
        """Deliver every new record in batches; returns the number of records delivered."""
        from chalicelib.marketdata import events
        records = self.read()
        for i in range(0, len(records), batch_size):
            batch = records[i:i + batch_size]
            events.on_tick_records(batch)
            self.delivered.append(batch)
        return len(records)


@pytest.fixture
def tick_stream(moto_db):
    return StreamPump(moto_db)


@pytest.fixture
def sent(monkeypatch):
    """Every post_to_connection the broadcaster would make: connection id -> [message dict]."""
    from chalicelib.realtime import broadcaster
    out = defaultdict(list)

    def send(connection_id, message):
        out[connection_id].append(json.loads(message) if isinstance(message, str) else message)
        return True
    monkeypatch.setattr(broadcaster, "send", send)
    return out


class FakeClock:
    def __init__(self, start: int = 1_700_000_000_000):
        self.t = start
        self.sleeps = []

    def __call__(self) -> int:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += int(seconds * 1000)

    def advance(self, ms: int) -> None:
        self.t += ms


@pytest.fixture
def clock(monkeypatch):
    from chalicelib.marketdata import events, fanout
    c = FakeClock()
    monkeypatch.setattr(events, "now_ms", c)
    monkeypatch.setattr(fanout, "now_ms", c)
    monkeypatch.setattr(fanout, "_sleep", c.sleep)
    return c
