"""The lean keep-alive client: one connection reused, stale ones replaced, failures raised
as the httpx errors the gateways classify (before sending: connect; after: ambiguous)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from adapters.http_keepalive import KeepAliveClient, proxied
from adapters.wecom_client import WeComSession


class Server(ThreadingHTTPServer):
    daemon_threads = True
    connections: list[int]
    bodies: list[Any]
    close_after_reply: bool = False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.server.connections.append(self.client_address[1])
        reply = json.dumps({"errcode": 0, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Retry-After", "1.5")
        if self.server.close_after_reply:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server(("127.0.0.1", 0), Handler)
    running.connections, running.bodies = [], []
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_requests_of_one_thread_share_one_connection_and_bodies_arrive_intact(
        server: Server) -> None:
    client = KeepAliveClient(url(server))
    try:
        replies = [client.post("/api", params={"access_token": "t k"}, json={"n": n, "t": "积分"})
                   for n in range(5)]
    finally:
        client.close()
    assert len(set(server.connections)) == 1
    assert server.bodies == [{"n": n, "t": "积分"} for n in range(5)]
    assert replies[0].status_code == 200 and replies[0].json()["path"] == "/api?access_token=t+k"
    assert replies[0].headers["retry-after"] == "1.5"


def test_a_connection_idle_too_long_or_closed_by_the_server_is_replaced(
        server: Server) -> None:
    now = [0.0]
    client = KeepAliveClient(url(server), max_idle=4.0, clock=lambda: now[0])
    try:
        client.post("/a", json={})
        now[0] = 3.0
        client.post("/b", json={})  # idle 3 s: reused
        now[0] = 8.0
        client.post("/c", json={})  # idle 5 s: a new connection
        server.close_after_reply = True
        client.post("/d", json={})  # the server closes after this reply
        server.close_after_reply = False
        client.post("/e", json={})
    finally:
        client.close()
    first, second, third, fourth, fifth = server.connections
    assert first == second != third == fourth != fifth


def test_each_thread_has_its_own_connection(server: Server) -> None:
    client = KeepAliveClient(url(server))
    threads = [threading.Thread(target=lambda: [client.post("/x", json={}) for _ in range(3)])
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert len(server.connections) == 9 and len(set(server.connections)) == 3


def test_a_refused_connection_is_a_connect_error_nothing_was_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        client = KeepAliveClient(f"http://127.0.0.1:{port}", timeout=2)
        with pytest.raises(httpx.ConnectError):
            client.post("/x", json={})


def silent_server(behaviour: str) -> tuple[socket.socket, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        if behaviour == "hang":
            time.sleep(1.5)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize(("behaviour", "error"), [("close", httpx.RemoteProtocolError),
                                                  ("hang", httpx.ReadTimeout)])
def test_a_failure_after_the_request_left_is_an_ambiguous_httpx_error(
        behaviour: str, error: type[Exception]) -> None:
    listener, thread = silent_server(behaviour)
    client = KeepAliveClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5)
    try:
        with pytest.raises(error):
            client.post("/x", json={"a": 1})
    finally:
        client.close()
        thread.join(5)
        listener.close()


def test_a_proxy_in_the_environment_sends_the_session_through_httpx(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert not proxied("https://qyapi.weixin.qq.com")
    assert isinstance(WeComSession("https://qyapi.weixin.qq.com", {})._client, KeepAliveClient)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxied("https://qyapi.weixin.qq.com")
    assert isinstance(WeComSession("https://qyapi.weixin.qq.com", {})._client, httpx.Client)
    monkeypatch.setenv("NO_PROXY", "qyapi.weixin.qq.com")
    assert not proxied("https://qyapi.weixin.qq.com")
