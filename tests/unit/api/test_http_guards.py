"""The HTTP guards alone: rate buckets, the streaming body limit, the catch-all, the
persisted-query resolution."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from api.auth import Principal
from api.body_limit import BodyLimit
from api.catch_all import CatchAll
from api.errors import ApiError
from api.limits import ApiLimits
from api.persisted import PersistedOperation, PersistedQueries, sha256_hex
from api.rate_limit import RateLimiter

STAFF = Principal(kind="staff", subject_id="0a6f0000-0000-4000-8000-000000000001")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_refills_at_the_rate() -> None:
    # Given 60 requests a minute: a bucket of 10, one token a second
    clock = Clock()
    limiter = RateLimiter(ApiLimits(rate_limits={"staff": 60}), clock)
    # Then ten pass at once and the eleventh waits a second
    assert [limiter.take(STAFF) for _ in range(10)] == [0.0] * 10
    assert limiter.take(STAFF) == pytest.approx(1.0)
    # And another principal has a bucket of its own
    assert limiter.take(Principal(kind="staff", subject_id="other")) == 0.0
    # When a second and a half has passed, one more passes
    clock.now += 1.5
    assert limiter.take(STAFF) == 0.0
    assert limiter.take(STAFF) == pytest.approx(0.5)


def test_a_rate_of_zero_means_no_limit() -> None:
    limiter = RateLimiter(ApiLimits(rate_limits={"default": 0}), Clock())
    assert all(limiter.take(STAFF) == 0.0 for _ in range(1000))


async def _echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_the_body_limit_holds_for_any_content_type_and_passes_what_is_under_it() -> None:
    client = TestClient(BodyLimit(_echo_length, max_body=1024))
    under = client.post("/", content=b"x" * 1024, headers={"Content-Type": "text/plain"})
    over = client.post("/", content=b"x" * 1025, headers={"Content-Type": "text/plain"})
    assert under.text == "1024"
    assert over.status_code == 413
    assert over.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


def test_a_bug_answers_json_internal_and_logs_no_message(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("13800138000 is a phone number")

    response = TestClient(CatchAll(broken), raise_server_exceptions=False).get("/x")
    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Unexpected error.",
                                           "extensions": {"code": "INTERNAL"}}]}
    assert "RuntimeError" in caplog.text and "13800138000" not in caplog.text


BODY = "query Me { me { id } }"
LIST = PersistedQueries({sha256_hex(BODY): PersistedOperation(
    id=sha256_hex(BODY), name="Me", type="query", body=BODY)})


def _hash(body: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(body)}}


@pytest.mark.parametrize(("query", "extensions", "require", "code"), [
    (None, _hash("{ other }"), False, "PERSISTED_QUERY_NOT_FOUND"),
    ("{ other }", _hash(BODY), False, "PERSISTED_QUERY_MISMATCH"),
    ("{ other }", None, True, "PERSISTED_QUERY_REQUIRED"),
    (None, None, False, "BAD_REQUEST"),
    (None, {"persistedQuery": {"sha256Hash": "zz"}}, False, "BAD_REQUEST"),
    (None, [], False, "BAD_REQUEST"),
], ids=["unknown", "mismatch", "required", "nothing", "bad-hash", "not-an-object"])
def test_persisted_queries_refuse_with_a_code(query: str | None, extensions: Any,
                                              require: bool, code: str) -> None:
    with pytest.raises(ApiError) as refused:
        LIST.resolve(query, extensions, require=require)
    assert refused.value.code == code


def test_a_listed_query_runs_by_hash_or_by_text() -> None:
    assert LIST.resolve(None, _hash(BODY), require=True) == BODY
    assert LIST.resolve(BODY, None, require=True) == BODY
    assert LIST.resolve(BODY, _hash(BODY), require=True) == BODY
    assert LIST.resolve("{ other }", None, require=False) == "{ other }"
