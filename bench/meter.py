"""Counting what an operation costs, from botocore itself: every AWS call made inside `with meter.measure()`.

DynamoDB calls get ReturnConsumedCapacity=INDEXES (what DynamoDB Local reports: table units, transactional units
doubled, no GSI units), and beside it the request-unit model of the pricing rules, from the items' sizes:
  - a write is 1 unit per KB of the item (the image after the write); in a transaction 2 units per KB;
  - every GSI entry written or removed is 1 more unit per KB of its projection (ALL projection: the item + 100 B);
  - a strongly consistent read is 1 unit per 4 KB (a Query sums the sizes of the items it returns), an eventually
    consistent read half that; a transactional read 2 per 4 KB.
Calls are also captured (operation + parameters) so that bench_trading can replay the same DynamoDB work with bare
boto3.
"""
import copy
import os
import threading
from collections import Counter
from contextlib import contextmanager
from decimal import Decimal

import boto3

SUPPORTS_CAPACITY = {"GetItem", "Query", "Scan", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem",
                     "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}


class Meter:
    def __init__(self):
        self.on = False
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.calls = Counter()          # service.operation -> count
        self.items_read = 0
        self.items_written = 0
        self.reported_read = Decimal(0)  # DynamoDB Local's ConsumedCapacity
        self.reported_write = Decimal(0)
        self.writes: list[tuple[str, dict]] = []  # (kind, body) of every item written: for the model
        self.reads: list[tuple[str, bool, list[dict]]] = []  # (operation, consistent, items returned)
        self.captured: list[tuple[str, dict]] = []  # (operation, params) of DynamoDB calls, for a replay
        self.ws_posts = 0

    @contextmanager
    def measure(self):
        with self.lock:
            self.reset()
            self.on = True
        try:
            yield self
        finally:
            self.on = False

    @property
    def dynamodb_calls(self) -> int:
        return sum(n for k, n in self.calls.items() if k.startswith("dynamodb."))

    def record(self, service: str, op: str, params: dict, resp: dict):
        with self.lock:
            self.calls[f"{service}.{op}"] += 1
            if service == "apigatewaymanagementapi" and op == "PostToConnection":
                self.ws_posts += 1
            if service != "dynamodb":
                return
            self.captured.append((op, copy.deepcopy(params)))
            if op == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    (kind, body), = entry.items()
                    self.writes.append((kind, body))
                    self.items_written += kind != "ConditionCheck"
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                self.writes.append(({"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[op],
                                    {**params}))
                self.items_written += 1
                self.writes[-1][1].setdefault("plain", True)
            elif op == "BatchWriteItem":
                for table, reqs in params["RequestItems"].items():
                    for r in reqs:
                        if "PutRequest" in r:
                            self.writes.append(("Put", {"TableName": table, "Item": r["PutRequest"]["Item"],
                                                        "plain": True}))
                        else:
                            self.writes.append(("Delete", {"TableName": table, "Key": r["DeleteRequest"]["Key"],
                                                           "plain": True}))
                        self.items_written += 1
            elif op == "GetItem":
                got = [resp["Item"]] if resp.get("Item") else []
                self.reads.append((op, bool(params.get("ConsistentRead")), got))
                self.items_read += len(got)
            elif op in ("Query", "Scan"):
                self.reads.append((op, bool(params.get("ConsistentRead")), resp.get("Items", [])))
                self.items_read += resp.get("Count", 0)
            elif op == "BatchGetItem":
                consistent = any(v.get("ConsistentRead") for v in params["RequestItems"].values())
                got = [i for v in resp.get("Responses", {}).values() for i in v]
                self.reads.append((op, consistent, got))
                self.items_read += len(got)
            elif op == "TransactGetItems":
                got = [r["Item"] for r in resp.get("Responses", []) if r.get("Item")]
                self.reads.append((op, True, got))
                self.items_read += len(got)
            caps = resp.get("ConsumedCapacity") or []
            for cap in caps if isinstance(caps, list) else [caps]:
                units = Decimal(str(cap.get("CapacityUnits", 0)))
                if op in WRITES:
                    self.reported_write += units
                else:
                    self.reported_read += units


_installed: Meter | None = None


def install() -> Meter:
    """One meter per process, wrapped around every botocore client call."""
    global _installed
    if _installed is not None:
        return _installed
    from botocore.client import BaseClient
    meter = Meter()
    real = BaseClient._make_api_call

    def call(self, operation_name, api_params):
        if not meter.on:
            return real(self, operation_name, api_params)
        service = self.meta.service_model.service_name
        if service == "dynamodb" and operation_name in SUPPORTS_CAPACITY:
            api_params = dict(api_params)
            api_params.setdefault("ReturnConsumedCapacity", "INDEXES")
        resp = real(self, operation_name, api_params)
        if meter.on:
            meter.record(service, operation_name, api_params, resp)
        return resp
    BaseClient._make_api_call = call
    _installed = meter
    return meter


def _client():
    return boto3.client("dynamodb", endpoint_url=os.environ.get("DYNAMODB_ENDPOINT"),
                        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def value_size(v: dict) -> int:
    (t, x), = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        digits = x.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if t in ("BOOL", "NULL"):
        return 1
    if t == "L":
        return 3 + sum(value_size(e) + 1 for e in x)
    if t == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in x.items())
    return len(str(x))


def item_size(item: dict) -> int:
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def _kb_units(size: int, unit: int) -> int:
    return max(1, -(-size // unit))


def model_units(meter: Meter) -> dict:
    """Request units by the pricing rules (module docstring): {"read", "write", "index"} for the calls measured.
    Updated items are read back now (consistently) for their size; a ConditionCheck counts like a write of the
    item (DynamoDB bills it as a transactional write of the item's size)."""
    client = _client()
    write = index = 0
    for kind, body in meter.writes:
        plain = body.get("plain", False)
        if kind == "Put":
            got = body["Item"]
        else:
            key = body["Key"]
            got = client.get_item(TableName=body["TableName"], Key=key, ConsistentRead=True).get("Item") or key
        size = item_size(got)
        write += (1 if plain else 2) * _kb_units(size, 1024)
        names = set((body.get("ExpressionAttributeNames") or {}).values())
        for gsi in ("gsi1", "gsi2"):
            removed = kind in ("Update", "Delete") and (f"{gsi}pk" in names or f"{gsi}pk" in got)
            if kind != "ConditionCheck" and (f"{gsi}pk" in got or removed):
                index += _kb_units(size + 100, 1024)
    read = Decimal(0)
    for op, consistent, items in meter.reads:
        if not items and op in ("BatchGetItem", "TransactGetItems"):
            continue
        units = Decimal(_kb_units(sum(item_size(i) for i in items), 4096))
        read += units * 2 if op == "TransactGetItems" else (units if consistent else units / 2)
    return {"read": read, "write": Decimal(write), "index": Decimal(index)}
