"""The DynamoDB Local tier: AWS's own engine serialises conditional transactions, which moto does not promise."""
import os
import threading

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tests.fixtures import count_calls

RACERS = 30


def test_fixture_points_at_dynamodb_local(ddb_local):
    from chalicelib.storage.db import connection
    from chalicelib.storage.models import Unique

    assert os.environ["DYNAMODB_ENDPOINT"] == ddb_local.endpoint == Unique.Meta.host == connection().host
    names = ddb_local.dynamodb().list_tables()["TableNames"]
    assert set(ddb_local.tables.values()) <= set(names)
    Unique(*Unique.key("username", "bob"), kind="username", value="bob", owner_id="u1").save()
    assert Unique.get(*Unique.key("username", "bob")).owner_id == "u1"
    streams = ddb_local.streams().list_streams(TableName=ddb_local.tables["main"])["Streams"]
    assert len(streams) == 1  # DynamoDB Streams calls reach DynamoDB Local too
    # moto still answers every other AWS call (SQS here)
    ddb_local.sqs().send_message(QueueUrl=os.environ["MATCHING_QUEUE_URL"], MessageBody="{}")
    assert len(ddb_local.sqs().receive_message(QueueUrl=ddb_local.queues["matching"])["Messages"]) == 1


def test_racing_conditional_transactions_have_exactly_one_winner(ddb_local):
    from chalicelib.storage.db import connection

    class Slot(Model):
        class Meta:
            table_name = ddb_local.tables["main"]
            host = ddb_local.endpoint
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        owner = UnicodeAttribute(null=True)

    with TransactWrite(connection=connection()) as t:  # also creates the shared botocore client up front
        t.save(Slot("SLOT#1", "S"))
    barrier = threading.Barrier(RACERS)
    winners, losers, errors = [], [], []

    def race(n: int) -> None:
        barrier.wait()
        try:
            # claim the slot and write a receipt, atomically: a loser must leave no receipt behind
            with TransactWrite(connection=connection()) as t:
                t.update(Slot("SLOT#1", "S"), actions=[Slot.owner.set(f"r{n}")],
                         condition=Slot.owner.does_not_exist())
                t.save(Slot(f"RECEIPT#{n}", "R", owner=f"r{n}"))
            winners.append(n)
        except TransactWriteError as e:
            losers.append(e.cause_response_code)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(RACERS)]
    with count_calls("dynamodb") as calls:
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    assert len(winners) == 1, (winners, losers)
    assert len(losers) == RACERS - 1 and set(losers) == {"TransactionCanceledException"}
    assert calls["TransactWriteItems"] == RACERS  # one request each, no retries counted twice
    assert Slot.get("SLOT#1", "S").owner == f"r{winners[0]}"
    receipts = [s.owner for s in Slot.scan(Slot.sk == "R")]
    assert receipts == [f"r{winners[0]}"]


def test_ddb_client_runs_the_real_app_on_dynamodb_local(ddb_client, ddb_local):
    """The app behind the fixture's client writes and reads this tier's tables: a registration through the real
    routes is in the fixture's main table, read back with a plain client of that engine (DynamoDB Local)."""
    from chalicelib.storage.models import Account
    from tests.helpers import Api
    r = ddb_client.http.get("/no-such-route")  # the greedy fallback (chalicelib/openapi): 404 in the envelope
    assert r.status_code == 404 and b"NOT_FOUND" in r.body
    api = Api(ddb_client)
    token, uid = api.register()
    pk, sk = Account.key(uid)
    item = ddb_local.dynamodb().get_item(TableName=ddb_local.tables["main"], Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                     ConsistentRead=True).get("Item")
    assert item is not None, f"{pk} not in {ddb_local.tables['main']}"
    assert api.me(token)["userId"] == uid
