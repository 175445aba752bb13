"""API Gateway's own stage throttling, the outer guard in front of the per-principal limits, is declared in the merge
template (infra/resources.json); tests/infra/test_package.py packages the app with it and runs cfn-lint."""
import json
import os

from tests.fixtures.aws import ROOT


def test_the_template_declares_stage_throttling_for_http_and_websocket():
    res = json.load(open(os.path.join(ROOT, "infra", "resources.json")))["Resources"]
    (setting,) = res["RestAPI"]["Properties"]["MethodSettings"]
    assert setting["ResourcePath"] == "/*" and setting["HttpMethod"] == "*"
    assert 0 < setting["ThrottlingRateLimit"] <= setting["ThrottlingBurstLimit"] <= 5000  # under the account's
    ws = res["WebsocketAPIStage"]["Properties"]["DefaultRouteSettings"]
    assert 0 < ws["ThrottlingRateLimit"] <= ws["ThrottlingBurstLimit"]
