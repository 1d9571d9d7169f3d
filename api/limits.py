"""The API's limits as one value: what a request may cost, weigh and how often it may come.

Built from the settings by the process's composition root (:mod:`siyu.api_process`) and
passed to the schema and the HTTP layer; the defaults are those of an unconfigured server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.persisted import PersistedQueries

#: Principal kinds a budget or a rate may be set for (``default`` covers the others).
PRINCIPAL_KINDS = ("staff", "customer", "service")

#: Field values one operation may produce (see :mod:`api.cost`), by principal kind.
DEFAULT_COST_BUDGETS: Mapping[str, int] = {"default": 25_000, "customer": 5_000}
#: Requests per minute per principal, by kind (a token bucket holding a tenth of a minute's).
#: ``anonymous``: requests without a (valid) token, per client address (api/anonymous_limit.py).
DEFAULT_RATE_LIMITS: Mapping[str, int] = {"default": 600, "customer": 120, "service": 6_000,
                                          "anonymous": 60}


@dataclass(frozen=True, slots=True)
class ApiLimits:
    #: ``SIYU_ENV=production``: no introspection, no "did you mean", no GraphiQL.
    production: bool = False
    cost_budgets: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_COST_BUDGETS))
    #: Field selections per operation (fragments expanded), and of those under an alias.
    max_fields: int = 500
    max_aliases: int = 30
    #: Bytes of a request body, whatever its content type; characters of a query text.
    max_body: int = 8 * 1024 * 1024
    max_query: int = 20_000
    rate_limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    #: The allow-list of persisted operations (None: none registered).
    persisted: PersistedQueries | None = None
    #: Only persisted operations run (POST included); GET runs only persisted ones anyway.
    require_persisted: bool = False
    #: Proxies whose ``X-Forwarded-For`` names the client (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()

    def budget(self, kind: str) -> int:
        return self.cost_budgets.get(kind, self.cost_budgets.get("default", 0))

    def rate(self, kind: str) -> int:
        return self.rate_limits.get(kind, self.rate_limits.get("default", 0))
