"""HTTP endpoints of the trading capability (Blueprint registered by app.py)."""
from chalice import Blueprint

bp = Blueprint(__name__)
