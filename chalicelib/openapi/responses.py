"""Response model of GET /api/openapi.json (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.common.responses import View


class OpenApiDocument(View):
    openapi: str
    info: dict
    paths: dict
    components: dict
