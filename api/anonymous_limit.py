"""Limits on what runs without a token: per client address, and per WeChat login code.

Three entries answer a request before anyone is authenticated: ``loginWithWeChat``
(:mod:`api.login_gate`), the auth gate's refusal of a missing or bad token (a token
guesser's loop), and WeCom's callbacks (signature checks: only the refused ones count,
WeCom itself sends many good ones). Each client address may make ``SIYU_RATE_LIMITS``'s
``anonymous`` number of them a minute (default 60; bursts of 10);
one ``wx.login`` code may be tried :data:`CODE_PER_MINUTE` times a minute (WeChat accepts a
code once; a client retrying it more is a replay). Over either: HTTP 429, ``Retry-After``
and ``RATE_LIMITED``, as for principals (the buckets are the same shared ones,
:mod:`api.rate_limit`).

The client address is the TCP peer, unless the peer is one of ``SIYU_TRUSTED_PROXIES``
(addresses or networks, comma-separated): then it is the right-most address of
``X-Forwarded-For`` that is not a trusted proxy. A client cannot choose its address by
sending the header itself — nobody's header is read unless it came through a proxy we
trust, and a proxy appends the address it saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.rate_limit import RateLimiter, refuse

ANONYMOUS = "anonymous"
#: Tries of one login code a minute, all of them at once at most.
CODE_PER_MINUTE = 5


def trusted_networks(values: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """``SIYU_TRUSTED_PROXIES``' entries as networks (ValueError for one that is not)."""
    return tuple(ip_network(v.strip(), strict=False) for v in values if v.strip())


class ClientAddress:
    """The address a request came from, believing ``X-Forwarded-For`` only from ``trusted``."""

    def __init__(self, trusted: Iterable[IPv4Network | IPv6Network] = ()) -> None:
        self.trusted = tuple(trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else "unknown"
        if not self.trusted or not self._is_trusted(peer):
            return peer
        forwarded = ",".join(v.decode("latin-1") for k, v in scope.get("headers", [])
                             if k.lower() == b"x-forwarded-for")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ip_address(hop)
            except ValueError:
                return peer  # garbage where an address should be: go by the proxy
            if not self._is_trusted(hop):
                return hop
        return hops[0] if hops else peer


class AnonymousLimits:
    """The per-address and per-code checks, over ``limiter``'s (shared) buckets."""

    def __init__(self, limiter: Callable[[], RateLimiter], address: ClientAddress) -> None:
        self.limiter = limiter
        self.address = address

    async def by_address(self, scope: Scope, send: Send) -> bool:
        """True if the request may go on; else it was answered 429."""
        limiter = self.limiter()
        wait = await limiter.acquire(f"ip:{self.address(scope)}", limiter.limits.rate(ANONYMOUS))
        if wait > 0:
            await refuse(send, wait, "too many requests without a token from this address")
            return False
        return True

    async def by_code(self, code: str, send: Send) -> bool:
        # A code is a credential for five minutes: the key is its hash, never the code.
        digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        wait = await self.limiter().acquire(f"login-code:{digest}", CODE_PER_MINUTE,
                                           capacity=CODE_PER_MINUTE)
        if wait > 0:
            await refuse(send, wait, "this login code was tried too often")
            return False
        return True


class FailuresLimitedByAddress:
    """An unauthenticated route that a legitimate caller uses a lot (WeCom's callbacks:
    every friend added is one) but only an attacker fails at: the answers it refuses
    (HTTP 400, 401, 403) count against the client address, and an address out of them gets
    429 before the route runs."""

    REFUSALS = frozenset({400, 401, 403})

    def __init__(self, app: ASGIApp, limits: AnonymousLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter = self.limits.limiter()
        key, rate = f"ip-refused:{self.limits.address(scope)}", limiter.limits.rate(ANONYMOUS)
        wait = await limiter.blocked(key, rate)
        if wait > 0:
            await refuse(send, wait, "too many refused requests from this address")
            return
        status = 0

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, observed)
        if status in self.REFUSALS:
            await limiter.acquire(key, rate)
