"""Fixtures of the rate-limit tests: the real app on moto, a clock at the start of a fresh window, source addresses."""
import pytest

from chalicelib.common import clock
from chalicelib.limits import service as limits
from tests.helpers import Api


@pytest.fixture
def fresh_window():
    """Move the shared clock to the start of a new hour (a whole window of every limit under test), so a test
    never straddles a window boundary; restore it afterwards. Returns the clock module (tests advance it)."""
    limits._seen.clear()
    now = clock.now_ms()
    clock.advance(3_600_000 - now % 3_600_000 + 1)
    yield clock
    clock.reset()
    limits._seen.clear()


@pytest.fixture
def api(client, fresh_window):
    return Api(client)


@pytest.fixture
def from_ip(monkeypatch):
    """from_ip("10.0.0.7"): the source address API Gateway reports for the next requests (chalice's local
    gateway reports 127.0.0.1 otherwise)."""
    from chalice.local import LambdaEventConverter

    def use(ip: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)
    return use
