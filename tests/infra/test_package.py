"""`make package`: chalice package + the merge template, then cfn-lint, on the real app.

Runs in the repository (Chalice reuses .chalice/deployments/ as its cache) but writes to a temporary
folder, so it does not clobber the `out/` of a concurrent `make package`. The first run fetches the
Lambda wheels from PyPI (about 12 s).
"""
import json
import os
import re
import subprocess
import sys

from tests.fixtures.aws import ROOT

BIN = os.path.dirname(sys.executable)
TABLES = {"MainTable": "sim-main", "TicksTable": "sim-ticks", "MarketTable": "sim-market",
          "ConnectionsTable": "sim-connections"}
QUEUES = {"BroadcastQueue": "sim-broadcast", "MatchingQueue": "sim-matching", "WebhookQueue": "sim-webhooks",
          "MmTimersQueue": "sim-mmtimers"}
STREAMS = {"OnTickStream": "TicksTable", "OnMainStream": "MainTable"}
CONSUMERS = {"OnBroadcastQueue": "BroadcastQueue", "OnMatchingQueue": "MatchingQueue",
             "OnWebhookQueue": "WebhookQueue", "OnMmTimersQueue": "MmTimersQueue"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _run(args, **kw):
    env = {k: v for k, v in os.environ.items()
           if not k.endswith(("_TABLE", "_QUEUE_URL")) and k not in ("TABLE_PREFIX", "DYNAMODB_ENDPOINT")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, **kw)


def test_package_merges_infra_and_passes_cfn_lint(tmp_path):
    out = tmp_path / "out"
    r = _run([os.path.join(BIN, "chalice"), "package", "--stage", "dev",
              "--merge-template", os.path.join(ROOT, "infra", "resources.json"), str(out)])
    assert r.returncode == 0, r.stdout + r.stderr
    template = json.loads((out / "sam.json").read_text())
    # infra/resources.json patches the event sources of these handlers: app.py must define them all
    missing = sorted(_snake(k) for k, v in template["Resources"].items() if "Type" not in v)
    assert not missing, f"app.py lacks the handlers {missing} that infra/resources.json configures"
    lint = _run([os.path.join(BIN, "cfn-lint"), str(out / "sam.json")])
    assert lint.returncode == 0, lint.stdout + lint.stderr

    res = template["Resources"]
    for logical, name in TABLES.items():
        assert res[logical]["Type"] == "AWS::DynamoDB::Table"
        assert res[logical]["Properties"]["TableName"] == name
    for logical in STREAMS.values():
        assert res[logical]["Properties"]["StreamSpecification"]["StreamViewType"]
    for logical, name in QUEUES.items():
        assert res[logical]["Type"] == "AWS::SQS::Queue" and res[logical]["Properties"]["QueueName"] == name

    # The event sources point at the template's own resources (an ARN the app could only guess otherwise)
    for fn, table in STREAMS.items():
        (event,) = res[fn]["Properties"]["Events"].values()
        assert event["Type"] == "DynamoDB"
        assert event["Properties"]["Stream"] == {"Fn::GetAtt": [table, "StreamArn"]}
    for fn, queue in CONSUMERS.items():
        (event,) = res[fn]["Properties"]["Events"].values()
        assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::Sub": f"${{{queue}.Arn}}"}

    # Every Lambda gets the queue URLs and the WebSocket management endpoint (SAM Globals)
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["BROADCAST_QUEUE_URL"] == {"Ref": "BroadcastQueue"}
    assert env["MMTIMERS_QUEUE_URL"] == {"Ref": "MmTimersQueue"}
    ws_stage = res["WebsocketAPIStage"]["Properties"]["StageName"]  # api_gateway_stage of .chalice/config.json
    assert env["WS_MANAGEMENT_ENDPOINT"]["Fn::Sub"].startswith("https://${WebsocketAPI}.")
    assert env["WS_MANAGEMENT_ENDPOINT"]["Fn::Sub"].endswith(f"/{ws_stage}")
    for name, r in res.items():  # a function's own value would win over Globals (.chalice/config.json must not set these)
        if r["Type"] == "AWS::Serverless::Function":
            assert not set(env) & set(r["Properties"].get("Environment", {}).get("Variables", {})), name
    api = res["APIHandler"]["Properties"]
    assert api["Environment"]["Variables"]["TABLE_PREFIX"] == "sim-"
    assert api["MemorySize"] == 512 and api["Timeout"] == 30


def test_every_setting_required_in_aws_is_provided_by_the_template_or_config():
    from chalicelib import settings
    template = json.loads(open(os.path.join(ROOT, "infra", "resources.json")).read())
    config = json.loads(open(os.path.join(ROOT, ".chalice", "config.json")).read())
    provided = set(template["Globals"]["Function"]["Environment"]["Variables"]) | set(config["environment_variables"])
    for stage in config["stages"].values():
        provided |= set(stage.get("environment_variables", {}))
    assert set(settings.REQUIRED_IN_AWS) <= provided, set(settings.REQUIRED_IN_AWS) - provided
    refs = {v["Ref"] for v in template["Globals"]["Function"]["Environment"]["Variables"].values() if "Ref" in v}
    assert "SecretsKey" in refs and "Default" not in template["Parameters"]["SecretsKey"]  # no deploy without it
    deploy = open(os.path.join(ROOT, "docs", "deploy.md")).read()
    for name in settings.REQUIRED_IN_AWS + ("CHAIN_RPC_URL", "USDC_CONTRACT_ADDRESS", "PUBLIC_WS_URL"):
        assert f"`{name}`" in deploy, f"{name} is not documented in docs/deploy.md"


def test_a_missing_required_setting_fails_the_cold_start_with_one_clear_line():
    from chalicelib import settings
    base = {k: v for k, v in os.environ.items() if k not in settings.REQUIRED_IN_AWS}
    aws = {**base, "AWS_LAMBDA_FUNCTION_NAME": "sim-trading-dev-api_handler", "AWS_DEFAULT_REGION": "us-east-1"}
    cmd = [sys.executable, "-c", "import app"]
    missing = subprocess.run(cmd, cwd=ROOT, env={**aws, "BROADCAST_QUEUE_URL": "q"}, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode != 0
    assert "required settings missing in AWS: SECRETS_KEY, MATCHING_QUEUE_URL" in missing.stdout + missing.stderr
    full = {**aws, **{n: "x" * 40 for n in settings.REQUIRED_IN_AWS}}
    ok = subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    local = subprocess.run(cmd, cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)  # not in AWS
    assert local.returncode == 0, local.stdout + local.stderr
