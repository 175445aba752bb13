"""Time and ids, in one place so tests can see what the code uses."""
import time
import uuid


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    return str(uuid.uuid4())
