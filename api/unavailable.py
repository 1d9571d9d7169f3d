"""The database is down, restarting or out of connections: a typed, retryable answer.

Such failures are not bugs and not the client's fault. They used to surface as
``INTERNAL "Unexpected error."`` (or a plain-text 500 from the auth gate) and, while
the pool waited for connections that would not come, as requests hanging for up to
14 s. Now every error whose cause is a lost or unobtainable database connection is
``UNAVAILABLE``, and a response made only of such errors is HTTP 503 with
``Retry-After``. The pools give up within ``DATABASE_WAIT`` seconds.
"""

from __future__ import annotations

from projections.reads import TRANSIENT

__all__ = ["DATABASE_WAIT", "MESSAGE", "RETRY_AFTER", "TRANSIENT", "UNAVAILABLE",
           "is_unavailable"]

UNAVAILABLE = "UNAVAILABLE"
MESSAGE = "the database is unavailable right now; retry shortly"
#: Seconds a request waits for a database connection before it is answered UNAVAILABLE.
DATABASE_WAIT = 2
RETRY_AFTER = "2"


def is_unavailable(error: BaseException | None) -> bool:
    """Whether ``error``, or what caused it, is a lost or unobtainable connection."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, TRANSIENT):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False
