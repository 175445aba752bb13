"""WebSocket connections and their subscriptions (table `connections`).

  Connection    pk=CONN#<id>  sk=C                                  user_id after auth, ttl = 2 h (API GW max)
  Subscription  pk=CONN#<id>  sk=SUB#<topic>  gsi1pk=TOPIC#<topic>  gsi1sk=<id>
A topic is e.g. `ticker#XAUUSD`, `kline#XAUUSD#1m`, `depth#XAUUSD`, `trades#XAUUSD`, `orders#<userId>`.
Subscriptions die with their connection: $disconnect (or a 410 Gone on send) deletes every item under CONN#<id>.
"""
import time

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.storage.db import Gsi1, IntAttribute, get_or_none, register

CONNECTION_TTL_S = 2 * 3600 + 600


class ConnItem(Model):
    class Meta:
        logical_table = "connections"
        table_name = "sim-connections"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    connection_id = UnicodeAttribute()
    ttl = IntAttribute()


@register
class Connection(ConnItem):
    user_id = UnicodeAttribute(null=True)
    connected_at = IntAttribute()


@register
class Subscription(ConnItem):
    topic = UnicodeAttribute()
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_topic = Gsi1()


def _ttl() -> int:
    return int(time.time()) + CONNECTION_TTL_S


def add_connection(connection_id: str) -> None:
    Connection(f"CONN#{connection_id}", "C", connection_id=connection_id, connected_at=int(time.time() * 1000),
               ttl=_ttl()).save()


def get_connection(connection_id: str) -> Connection | None:
    return get_or_none(Connection, f"CONN#{connection_id}", "C")


def set_user(connection_id: str, user_id: str) -> None:
    Connection(f"CONN#{connection_id}", "C").update(actions=[Connection.user_id.set(user_id)],
                                                    condition=Connection.pk.exists())


def subscribe(connection_id: str, topic: str) -> None:
    Subscription(f"CONN#{connection_id}", f"SUB#{topic}", connection_id=connection_id, topic=topic,
                 gsi1pk=f"TOPIC#{topic}", gsi1sk=connection_id, ttl=_ttl()).save()


def unsubscribe(connection_id: str, topic: str) -> None:
    Subscription(f"CONN#{connection_id}", f"SUB#{topic}").delete()


def subscribers(topic: str) -> list[str]:
    return [s.gsi1sk for s in Subscription.by_topic.query(f"TOPIC#{topic}", attributes_to_get=["gsi1sk"])]


def has_subscribers(topic: str) -> bool:
    return any(True for _ in Subscription.by_topic.query(f"TOPIC#{topic}", limit=1))


def remove_connection(connection_id: str) -> None:
    with Connection.batch_write() as batch:
        for item in ConnItem.query(f"CONN#{connection_id}"):
            batch.delete(item)
