"""Exact decimal arithmetic, once: money sums and products computed under `exact()` never round
(precision 100 digits, far above DynamoDB's 38)."""
from contextlib import contextmanager
from decimal import localcontext

EXACT_PRECISION = 100


@contextmanager
def exact():
    with localcontext() as c:
        c.prec = EXACT_PRECISION
        yield c
