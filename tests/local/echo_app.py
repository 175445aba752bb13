"""A throwaway Chalice app for the local stack's tests: one handler of every kind the stack emulates, each
recording what it received, and routes to drive and observe them. Not part of the platform."""
import json
import os
import threading
import time

import boto3
from chalice import Chalice, Response

app = Chalice(app_name="echo")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.websocket_api.session = boto3.Session()

PREFIX = os.environ.get("TABLE_PREFIX", "sim-")
SEEN = {"schedule": [], "sqs": [], "ddb": [], "connect": [], "disconnect": []}
_lock = threading.Lock()
_failed_once: set[str] = set()


def _seen(kind: str, item):
    with _lock:
        SEEN[kind].append(item)


def _management():
    return boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WS_MANAGEMENT_ENDPOINT"])


@app.on_ws_connect()
def ws_connect(event):
    raw = event.to_dict()
    if (raw.get("queryStringParameters") or {}).get("reject"):
        return Response(body="rejected", status_code=403)
    _seen("connect", {"connectionId": event.connection_id, "query": raw.get("queryStringParameters"),
                      "routeKey": raw["requestContext"]["routeKey"]})


@app.on_ws_message()
def ws_message(event):
    msg = json.loads(event.body)
    kind, cid = msg.get("type"), event.connection_id
    if kind == "ping":
        _management().post_to_connection(ConnectionId=cid, Data=json.dumps({"type": "pong", "ts": time.time()}))
    elif kind == "whoami":
        _management().post_to_connection(ConnectionId=cid, Data=json.dumps({"type": "whoami", "connectionId": cid}))
    elif kind == "info":
        info = _management().get_connection(ConnectionId=cid)
        _management().post_to_connection(ConnectionId=cid, Data=json.dumps(
            {"type": "info", "sourceIp": info["Identity"]["SourceIp"], "eventType":
             event.to_dict()["requestContext"]["eventType"]}))
    elif kind == "chalice-send":  # Chalice's own WebsocketAPI, as an app might use it
        app.websocket_api.send(cid, json.dumps({"type": "chalice-send"}))
    elif kind == "close":
        _management().delete_connection(ConnectionId=cid)
    elif kind == "boom":
        raise RuntimeError("boom")


@app.on_ws_disconnect()
def ws_disconnect(event):
    _seen("disconnect", event.connection_id)


@app.schedule("rate(1 minute)")
def every_minute(event):
    _seen("schedule", event.to_dict()["detail-type"])


@app.on_sqs_message(queue=PREFIX + "matching", batch_size=5)
def on_queue(event):
    for record in event:
        if record.body.startswith("fail-once") and record.body not in _failed_once:
            _failed_once.add(record.body)
            raise RuntimeError("failing once on purpose")
    for record in event:
        _seen("sqs", record.body)


# a placeholder stream label: the stack resolves the table's current stream, as a deployment would
@app.on_dynamodb_record(stream_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{PREFIX}main/stream/label")
def on_main_table(event):
    for record in event:
        _seen("ddb", {"eventName": record.event_name, "keys": record.keys, "new": record.new_image,
                      "source": record.event_source_arn})


@app.route("/hello", cors=True)
def hello():
    req = app.current_request
    return {"query": req.query_params, "agent": req.headers.get("user-agent")}


@app.route("/slow/{n}")
def slow(n):
    time.sleep(0.2)
    return {"n": n, "path": app.current_request.context["path"]}


@app.route("/bin")
def binary():
    return Response(body=bytes(range(256)), headers={"Content-Type": "application/octet-stream"})


@app.route("/multi")
def multi():
    return Response(body="ok", headers={"Content-Type": "text/plain", "Set-Cookie": ["a=1", "b=2"]})


@app.route("/items", methods=["POST"])
def put_item():
    body = app.current_request.json_body
    boto3.client("dynamodb", endpoint_url=os.environ["DYNAMODB_ENDPOINT"]).put_item(
        TableName=PREFIX + "main", Item={"pk": {"S": body["pk"]}, "sk": {"S": "x"}, "v": {"N": str(body["v"])}})
    return {"ok": True}


@app.route("/enqueue", methods=["POST"])
def enqueue():
    body = app.current_request.json_body
    boto3.client("sqs", endpoint_url=os.environ["SQS_ENDPOINT"]).send_message(
        QueueUrl=os.environ["MATCHING_QUEUE_URL"], MessageBody=body["body"], DelaySeconds=body.get("delay", 0))
    return {"ok": True}


@app.route("/seen")
def seen():
    with _lock:
        return json.loads(json.dumps(SEEN))
