"""The local stack's moto fixes: exact number arithmetic and bounded stream retention."""
import socket

import boto3
from moto.dynamodb.models.table import StreamShard
from moto.server import ThreadedMotoServer

from local import moto_patches


def test_stream_trim_keeps_newest_records_and_readers_continue(monkeypatch):
    monkeypatch.setattr(StreamShard, "add", StreamShard.add)
    monkeypatch.setattr(StreamShard, "get", StreamShard.get)
    moto_patches._trim_streams(10)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)  # in this process: the patch applies
    server.start()
    kw = {"region_name": "us-east-1", "endpoint_url": f"http://127.0.0.1:{port}",
          "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    try:
        ddb = boto3.client("dynamodb", **kw)
        ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
        streams = boto3.client("dynamodbstreams", **kw)
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        early = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        for i in range(25):
            ddb.put_item(TableName="t", Item={"pk": {"S": f"k{i:02d}"}})
        got = streams.get_records(ShardIterator=early["ShardIterator"], Limit=100)["Records"]
        keys = [r["dynamodb"]["NewImage"]["pk"]["S"] for r in got]
        # the 21st record trims the shard to its newest 10 (k11..k20); k21..k24 follow; the early reader resumes
        assert keys == [f"k{i:02d}" for i in range(11, 25)]
    finally:
        server.stop()
