"""HTTP endpoints of the broker capability (Blueprint registered by app.py)."""
from chalice import Blueprint

bp = Blueprint(__name__)
