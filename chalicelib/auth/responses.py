"""Response models of the session auth endpoints (OpenAPI only: see chalicelib/common/responses.py)."""
from chalicelib.accounts.responses import UserView
from chalicelib.common.responses import View


class SessionView(View):
    """register / login: a session token and who it is."""
    token: str
    user: UserView


class SsoSessionView(SessionView):
    logoutRedirectUrl: str | None
