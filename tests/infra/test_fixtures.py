"""The storage fixtures and the API call counter do what tests rely on."""
import os
import threading

import boto3
from pynamodb.attributes import UnicodeAttribute
from pynamodb.transactions import TransactWrite

from tests.fixtures import count_calls, reads, writes


def _probe_model(stack):
    """A throwaway model on this test's main table (not registered with chalicelib.storage.db)."""
    from pynamodb.models import Model

    class Probe(Model):
        class Meta:
            table_name = stack.tables["main"]
            host = stack.endpoint
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        owner = UnicodeAttribute(null=True)

    return Probe


def test_moto_db_creates_tables_queues_and_env(moto_db):
    assert moto_db.prefix.startswith("t") and os.environ["TABLE_PREFIX"] == moto_db.prefix
    assert "DYNAMODB_ENDPOINT" not in os.environ
    names = set(boto3.client("dynamodb").list_tables()["TableNames"])
    assert names == {f"{moto_db.prefix}{t}" for t in ("main", "ticks", "market", "connections")}
    main = boto3.client("dynamodb").describe_table(TableName=moto_db.tables["main"])["Table"]
    assert {i["IndexName"] for i in main["GlobalSecondaryIndexes"]} == {"gsi1", "gsi2"}
    assert main["StreamSpecification"]["StreamEnabled"]
    for logical in ("broadcast", "matching", "webhooks"):
        assert os.environ[f"{logical.upper()}_QUEUE_URL"] == moto_db.queues[logical]
        assert moto_db.queues[logical].endswith(f"/{moto_db.prefix}{logical}")


def test_moto_db_models_follow_the_fixture(moto_db):
    from chalicelib.storage.db import MainModel, connection
    from chalicelib.storage.models import Unique

    assert Unique.Meta.table_name == moto_db.tables["main"] and Unique.Meta.host is None
    Unique(*Unique.key("username", "alice"), kind="username", value="alice", owner_id="u1").save()
    assert Unique.get(*Unique.key("username", "alice")).owner_id == "u1"
    assert connection().host is None and issubclass(Unique, MainModel)


def test_count_calls_sees_pynamodb_boto3_and_other_threads(moto_db):
    from chalicelib.storage.db import connection

    Probe = _probe_model(moto_db)
    Probe("p#1", "s").save()  # the model's botocore client now exists: created before the block
    sqs = boto3.client("sqs")
    with count_calls() as calls:
        Probe("p#2", "s").save()
        Probe.get("p#1", "s")
        with TransactWrite(connection=connection()) as t:
            t.update(Probe("p#1", "s"), actions=[Probe.owner.set("a")], condition=Probe.owner.does_not_exist())
            t.save(Probe("p#3", "s"))
        sqs.send_message(QueueUrl=moto_db.queues["broadcast"], MessageBody="{}")
        worker = threading.Thread(target=lambda: Probe("p#4", "s").delete())
        worker.start()
        worker.join()
    assert calls == {"PutItem": 1, "GetItem": 1, "TransactWriteItems": 1, "SendMessage": 1, "DeleteItem": 1}
    assert writes(calls) == 3 and reads(calls) == 1
    Probe.get("p#2", "s")
    assert calls["GetItem"] == 1  # frozen once the block is left


def test_count_calls_service_filter_and_nesting(moto_db):
    Probe = _probe_model(moto_db)
    with count_calls("dynamodb") as ddb, count_calls() as everything:
        Probe("p#1", "s").save()
        boto3.client("sqs").get_queue_url(QueueName=f"{moto_db.prefix}matching")
    assert ddb == {"PutItem": 1}
    assert everything == {"PutItem": 1, "GetQueueUrl": 1}


def test_client_runs_the_real_app_on_moto(client, moto_db):
    """The app behind the fixture's client writes and reads this tier's tables: a registration through the real
    routes is in the fixture's main table, read back with a plain client of that engine (moto)."""
    from chalicelib.storage.models import Account
    from tests.helpers import Api
    r = client.http.get("/no-such-route")  # the greedy fallback (chalicelib/openapi): 404 in the envelope
    assert r.status_code == 404 and b"NOT_FOUND" in r.body
    api = Api(client)
    token, uid = api.register()
    pk, sk = Account.key(uid)
    item = moto_db.dynamodb().get_item(TableName=moto_db.tables["main"], Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                     ConsistentRead=True).get("Item")
    assert item is not None, f"{pk} not in {moto_db.tables['main']}"
    assert api.me(token)["userId"] == uid
