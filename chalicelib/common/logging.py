"""Structured JSON logs (aws-lambda-powertools Logger): one JSON object per line, with the request id.

Never pass a password, token, API key or request body to a log call: log ids and outcomes only.
"""
import os

from chalicelib import settings

_s = settings.get()
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", _s.powertools_service_name)  # powertools reads it at import
from aws_lambda_powertools import Logger  # noqa: E402

logger = Logger(service=_s.powertools_service_name, level=_s.log_level)  # made once per Lambda instance
