"""simtrade: Python SDK of the sim-trading platform (REST client, WebSocket stream, CLI, market-making bot)."""
from simtrade.client import ABSENT, BrokerApi, Client
from simtrade.errors import ApiError, AuthError, NotFound, RateLimited, ServerError, SimtradeError, TransportError
from simtrade.retry import NO_RETRY, RetryPolicy
from simtrade.checksum import depth_checksum
from simtrade.ws import Stream, WsMessage

__version__ = "0.1.0"
__all__ = ["Client", "BrokerApi", "Stream", "WsMessage", "RetryPolicy", "NO_RETRY", "ApiError", "AuthError",
           "NotFound", "RateLimited", "ServerError", "SimtradeError", "TransportError", "depth_checksum", "ABSENT"]
