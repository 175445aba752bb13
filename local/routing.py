"""API Gateway's greedy path matching for chalice's local router (the local stack's gateway and chalice.test.Client).

API Gateway matches a `{proxy+}` resource at any depth, after every more specific route; chalice's local
RouteMatcher matches it one segment deep only, so `/api/no/such/thing` would not reach the app's 404 fallback
(chalicelib/openapi/routes.add_fallbacks). Installed by local/stack.py and tests/conftest.py; the deployed app
never imports it (it stays off the Lambda cold start)."""
from chalice import local

CATCH_ALL = "/{proxy+}"


def install() -> None:
    if getattr(local.RouteMatcher, "greedy", False):
        return
    original = local.RouteMatcher.match_route

    def match_route(self, url):
        try:
            return original(self, url)
        except ValueError:
            if CATCH_ALL not in self.route_urls:
                raise
            parsed = local.urlparse(url)
            return local.MatchResult(CATCH_ALL, {"proxy": parsed.path.lstrip("/")},
                                     local.parse_qs(parsed.query, keep_blank_values=True))

    local.RouteMatcher.match_route = match_route
    local.RouteMatcher.greedy = True
