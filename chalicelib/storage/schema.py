"""Table definitions come from infra/resources.json, the CloudFormation template that AWS deploys.

The local stack and the test fixtures call create_tables() so that every environment has the same keys,
indexes, streams and TTL as production: one definition, no drift.
"""
import json
import os

from chalicelib import config

TEMPLATE = os.path.join(os.path.dirname(__file__), "..", "..", "infra", "resources.json")
LOGICAL = {"MainTable": "main", "TicksTable": "ticks", "MarketTable": "market", "ConnectionsTable": "connections"}
QUEUES = {"BroadcastQueue": "broadcast", "MatchingQueue": "matching", "WebhookQueue": "webhooks",
          "MmTimersQueue": "mmtimers"}


def load_template(path: str = TEMPLATE) -> dict:
    with open(path) as f:
        return json.load(f)


def table_specs(template: dict | None = None) -> dict[str, dict]:
    """logical name -> create_table kwargs (with the physical name of this environment)."""
    template = template or load_template()
    out = {}
    for res_name, logical in LOGICAL.items():
        props = template["Resources"][res_name]["Properties"]
        kw = {
            "TableName": config.table_name(logical),
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        }
        if props.get("GlobalSecondaryIndexes"):
            kw["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            kw["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        out[logical] = {"create": kw, "ttl": props.get("TimeToLiveSpecification")}
    return out


def create_tables(client, template: dict | None = None) -> None:
    """Create every table (idempotent) with the given boto3 dynamodb client."""
    existing = set(client.list_tables().get("TableNames", []))
    for logical, spec in table_specs(template).items():
        name = spec["create"]["TableName"]
        if name not in existing:
            client.create_table(**spec["create"])
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
            ttl = spec["ttl"]
            if ttl:
                try:
                    client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                        "AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])})
                except Exception:  # pragma: no cover - some engines reject TTL; it is an optimisation only
                    pass


def create_queues(sqs_client) -> dict[str, str]:
    """Create the SQS queues; returns logical name -> queue URL."""
    template = load_template()
    urls = {}
    for res_name, logical in QUEUES.items():
        props = template["Resources"][res_name]["Properties"]
        name = config.queue_name(logical)
        attrs = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        urls[logical] = sqs_client.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    return urls
