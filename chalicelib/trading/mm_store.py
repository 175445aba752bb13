"""Items and repository functions of the market-maker tools (docs/market-maker.md): the dead-man's switch,
cancel-on-disconnect and market-maker protection (MMP), and the timer queue they share.

  DeadMan      pk=DMS#<accountId>  sk=D          token, deadline, timeout_ms: the armed cancel-all-after
  CodConn      pk=COD#<accountId>  sk=CONN#<id>  grace_ms, ttl: a WebSocket connection that enabled cancel-on-disconnect
  CodPending   pk=COD#<accountId>  sk=PENDING    token, deadline: the last enabled connection closed; cancel at deadline
                                                 unless a connection re-enables before (that deletes this item)
  Mmp          pk=MMP#<accountId>  sk=M          the MMP config and the liquidity fills inside its window, version
  the freeze   attribute mmp_frozen_until of the account item (models.MmpFreeze): a condition of every new pair and
               reprice transaction

Timers are delayed SQS messages on the `mmtimers` queue ({"kind": "dms"|"cod", "accountId", "token", "at"}); SQS
delays at most 900 s, so a message that arrives before its deadline is sent again for the rest.
"""
import json
import time

from pynamodb.attributes import ListAttribute, UnicodeAttribute

from chalicelib import config
from chalicelib.common.sqs import client as sqs
from chalicelib.storage.db import DecimalAttribute, IntAttribute, MainModel, get_or_none, is_condition_failure, \
    register
from chalicelib.trading.models import MmpFreeze

MAX_DELAY_S = 900  # SQS's longest DelaySeconds
COD_TTL_S = 2 * 3600 + 600  # an API Gateway connection lives at most 2 h: a lost $disconnect cannot pin it forever


@register
class DeadMan(MainModel):
    token = UnicodeAttribute()
    timeout_ms = IntAttribute()
    deadline = IntAttribute()
    updated_at = IntAttribute()

    @staticmethod
    def key(account_id: str) -> tuple[str, str]:
        return f"DMS#{account_id}", "D"


@register
class CodConn(MainModel):
    connection_id = UnicodeAttribute()
    grace_ms = IntAttribute()
    ttl = IntAttribute()

    @staticmethod
    def key(account_id: str, connection_id: str) -> tuple[str, str]:
        return f"COD#{account_id}", f"CONN#{connection_id}"


@register
class CodPending(MainModel):
    token = UnicodeAttribute()
    deadline = IntAttribute()
    connection_id = UnicodeAttribute()

    @staticmethod
    def key(account_id: str) -> tuple[str, str]:
        return f"COD#{account_id}", "PENDING"


@register
class Mmp(MainModel):
    window_ms = IntAttribute()
    quantity_limit = DecimalAttribute()
    frozen_ms = IntAttribute()
    fills = ListAttribute(of=UnicodeAttribute, default=list)  # "<ts>|<quantity>|<fillId>" inside the window
    tripped_at = IntAttribute(null=True)
    version = IntAttribute(default=1)
    updated_at = IntAttribute()

    @staticmethod
    def key(account_id: str) -> tuple[str, str]:
        return f"MMP#{account_id}", "M"


# ---- the timer queue -------------------------------------------------------------------------------------------

def enqueue_timer(kind: str, account_id: str, token: str, at: int, now: int) -> None:
    """A delayed message that arrives in the second before `at` (ms; its handler waits out the rest) or, past SQS's
    900 s, after the longest delay (sent again then)."""
    url = config.queue_url("mmtimers")
    if not url:
        raise RuntimeError("MMTIMERS_QUEUE_URL is not set")
    delay = max(0, min(MAX_DELAY_S, (at - now) // 1000))  # rounded down: at most a second early, never late
    sqs().send_message(QueueUrl=url, DelaySeconds=int(delay), MessageBody=json.dumps(
        {"kind": kind, "accountId": account_id, "token": token, "at": at}))


# ---- dead-man's switch -------------------------------------------------------------------------------------

def get_dead_man(account_id: str) -> DeadMan | None:
    return get_or_none(DeadMan, *DeadMan.key(account_id), consistent_read=True)


def arm_dead_man(account_id: str, token: str, timeout_ms: int, deadline: int, now: int) -> None:
    DeadMan(*DeadMan.key(account_id), token=token, timeout_ms=timeout_ms, deadline=deadline, updated_at=now).save()


def disarm_dead_man(account_id: str, token: str | None = None) -> bool:
    """Delete the switch (only if it still carries `token`, when given); False when it was not there / replaced."""
    try:
        cond = DeadMan.token == token if token is not None else None
        DeadMan(*DeadMan.key(account_id)).delete(condition=cond)
        return True
    except Exception as e:  # noqa: BLE001 - a failed condition: refreshed or disabled meanwhile
        if is_condition_failure(e):
            return False
        raise


# ---- cancel-on-disconnect ----------------------------------------------------------------------------------

def enable_cod(account_id: str, connection_id: str, grace_ms: int) -> None:
    """This connection protects the account's pairs; a disconnect timer already running is called off."""
    CodConn(*CodConn.key(account_id, connection_id), connection_id=connection_id, grace_ms=grace_ms,
            ttl=int(time.time()) + COD_TTL_S).save()
    CodPending(*CodPending.key(account_id)).delete()


def disable_cod(account_id: str, connection_id: str) -> None:
    CodConn(*CodConn.key(account_id, connection_id)).delete()


def get_cod_conn(account_id: str, connection_id: str) -> CodConn | None:
    return get_or_none(CodConn, *CodConn.key(account_id, connection_id), consistent_read=True)


def cod_connections(account_id: str) -> list[CodConn]:
    now_s = int(time.time())
    return [c for c in CodConn.query(f"COD#{account_id}", CodConn.sk.startswith("CONN#"), consistent_read=True)
            if c.ttl > now_s]


def set_cod_pending(account_id: str, token: str, deadline: int, connection_id: str) -> None:
    CodPending(*CodPending.key(account_id), token=token, deadline=deadline, connection_id=connection_id).save()


def get_cod_pending(account_id: str) -> CodPending | None:
    return get_or_none(CodPending, *CodPending.key(account_id), consistent_read=True)


def clear_cod_pending(account_id: str, token: str) -> bool:
    try:
        CodPending(*CodPending.key(account_id)).delete(condition=CodPending.token == token)
        return True
    except Exception as e:  # noqa: BLE001
        if is_condition_failure(e):
            return False
        raise


# ---- market-maker protection -------------------------------------------------------------------------------

def get_mmp(account_id: str) -> Mmp | None:
    return get_or_none(Mmp, *Mmp.key(account_id), consistent_read=True)


def save_mmp(item: Mmp, expected_version: int | None) -> bool:
    """Write the MMP item only at the version it was read at (None: only if new); False when it moved on."""
    cond = Mmp.pk.does_not_exist() if expected_version is None else (Mmp.version == expected_version)
    try:
        item.save(condition=cond)
        return True
    except Exception as e:  # noqa: BLE001
        if is_condition_failure(e):
            return False
        raise


def frozen_until(account_id: str) -> int | None:
    item = get_or_none(MmpFreeze, *MmpFreeze.key(account_id), consistent_read=True,
                       attributes_to_get=["pk", "sk", "mmp_frozen_until"])
    return item.mmp_frozen_until if item is not None else None


def set_frozen_until(account_id: str, until: int | None) -> None:
    """Freeze (until ms) or unfreeze (None) the account: only its mmp_frozen_until attribute changes."""
    action = MmpFreeze.mmp_frozen_until.set(until) if until is not None else MmpFreeze.mmp_frozen_until.remove()
    MmpFreeze(*MmpFreeze.key(account_id)).update(actions=[action], condition=MmpFreeze.pk.exists())
