"""Structured JSON logs (aws-lambda-powertools Logger): one JSON object per line, with the request id.

Never pass a password, token, API key or request body to a log call: log ids and outcomes only.
"""
import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sim-trading")
from aws_lambda_powertools import Logger  # noqa: E402

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "sim-trading"),
                level=os.environ.get("LOG_LEVEL", "INFO"))
