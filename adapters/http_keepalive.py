"""A lean keep-alive HTTP/1.1 JSON client for the gateways' hot path (stdlib ``http.client``).

A campaign sends one subscribe message per recipient, so the client's own cost is paid per
send: httpx spent ~1 ms of CPU per request here (URL merging, auth / redirect / cookie
layers, httpcore's state machine), four times ``http.client`` on a keep-alive connection.
This client keeps **one connection per thread** (requests on a connection are sequential)
and opens a new one when the server closed it or it sat idle longer than ``max_idle``
(servers drop idle keep-alive connections: uvicorn after 5 s).

Failures are raised as the httpx exceptions the callers already classify: a failure to
connect is ``httpx.ConnectError`` / ``httpx.ConnectTimeout`` (nothing was sent); a failure
after the request was written is ``httpx.ReadTimeout`` / ``httpx.RemoteProtocolError`` /
``httpx.ReadError`` (ambiguous: the server may have acted on it).

Use it only without a proxy: :func:`proxied` tells whether the environment sets one for
the URL (then callers use httpx, which honours it).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx


def proxied(base_url: str) -> bool:
    """True when the environment configures a proxy for ``base_url``'s host."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


@dataclass(frozen=True, slots=True)
class LeanResponse:
    status_code: int
    content: bytes
    headers: Mapping[str, str]  # lower-cased names

    def json(self) -> Any:
        return json.loads(self.content)


class _OneWrite(http.client.HTTPConnection):
    """Writes the head and a bytes body in one ``send`` (one segment, one wake-up of the
    server, no Nagle / delayed-ACK stall) instead of two."""

    def _send_output(self, message_body: Any = None, encode_chunked: bool = False) -> None:
        if not isinstance(message_body, bytes) or encode_chunked:
            super()._send_output(message_body, encode_chunked)  # type: ignore[misc]
            return
        self._buffer.extend((b"", b""))  # type: ignore[attr-defined]
        head = b"\r\n".join(self._buffer)  # type: ignore[attr-defined]
        del self._buffer[:]  # type: ignore[attr-defined]
        self.send(head + message_body)


class _OneWriteTLS(_OneWrite, http.client.HTTPSConnection):
    """The same over TLS (MRO: this, _OneWrite, HTTPSConnection, HTTPConnection)."""


class _Connection:
    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.last_used = 0.0


class KeepAliveClient:
    """``get`` / ``post`` JSON to one base URL; thread-safe (a connection per thread)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0, max_idle: float = 4.0,
                 clock: Any = time.monotonic) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path
        self._timeout = timeout
        self._max_idle = max_idle
        self._clock = clock
        self._context = ssl.create_default_context() if self._https else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[_Connection] = []
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for held in connections:
            held.conn.close()

    def get(self, path: str, *, params: Mapping[str, str] | None = None) -> LeanResponse:
        return self._request("GET", path, params, None)

    def post(self, path: str, *, params: Mapping[str, str] | None = None,
             json: Any = None) -> LeanResponse:
        return self._request("POST", path, params, json)

    # -- internals -------------------------------------------------------------------
    def _new(self) -> _Connection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = _OneWriteTLS(self._host, self._port, timeout=self._timeout,
                                context=self._context)
        else:
            conn = _OneWrite(self._host, self._port, timeout=self._timeout)
        held = _Connection(conn)
        with self._lock:
            if self._closed:
                raise httpx.ConnectError("the client is closed")
            self._all.append(held)
        return held

    def _connection(self) -> _Connection:
        held: _Connection | None = getattr(self._local, "held", None)
        if held is not None and held.conn.sock is not None \
                and self._clock() - held.last_used > self._max_idle:
            held.conn.close()  # the server may have dropped it: do not write into it
        if held is None:
            held = self._local.held = self._new()
        if held.conn.sock is None:
            try:
                held.conn.connect()
                sock: socket.socket = held.conn.sock  # type: ignore[assignment]
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except TimeoutError as error:
                held.conn.close()
                raise httpx.ConnectTimeout(str(error)) from error
            except OSError as error:
                held.conn.close()
                raise httpx.ConnectError(str(error)) from error
        return held

    def _request(self, method: str, path: str, params: Mapping[str, str] | None,
                 payload: Any) -> LeanResponse:
        target = self._prefix + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        held = self._connection()
        conn = held.conn
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except TimeoutError as error:
            conn.close()
            raise httpx.ReadTimeout(str(error)) from error
        except (http.client.HTTPException, ConnectionError) as error:
            conn.close()
            raise httpx.RemoteProtocolError(str(error) or type(error).__name__) from error
        except OSError as error:
            conn.close()
            raise httpx.ReadError(str(error)) from error
        held.last_used = self._clock()
        if response.will_close:
            conn.close()
        return LeanResponse(response.status, content,
                            {k.lower(): v for k, v in response.getheaders()})
