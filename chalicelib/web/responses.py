"""Response models of the web endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import View


class BrandConfigView(View):
    """The default brand (brokerUid null) or the broker's; wsUrl when clients connect elsewhere than <api-url>/ws."""
    brandName: str
    logoUrl: str | None
    primaryColor: str
    brokerUid: str | None
    tenantCode: str | None = None
    wsUrl: str | None = None
