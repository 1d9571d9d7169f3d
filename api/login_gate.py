"""The one operation that runs without a token: ``loginWithWeChat``.

A mini-program has no token before it logs in. A JSON ``POST /graphql`` without an
``Authorization`` header passes to the GraphQL app (as the anonymous principal, who sees
nothing) only when its *parsed* document is exactly one mutation selecting
``loginWithWeChat`` and nothing else: no second field, no fragment, no directive, no
other operation. Anything else goes to the auth gate (:class:`api.app.RequirePrincipal`)
with its body intact, and gets its 401. Logins are limited per client address and per
code (:mod:`api.anonymous_limit`).
"""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    parse,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.anonymous_limit import AnonymousLimits
from api.auth import Principal

LOGIN_FIELD = "loginWithWeChat"
ANONYMOUS = Principal(kind="anonymous", subject_id="")
#: A login request is small; a larger body is not one (it goes to the gate, unread twice).
MAX_LOGIN_BODY = 4096


def _plain_fields(selection: SelectionSetNode | None) -> bool:
    if selection is None:
        return True
    return all(isinstance(s, FieldNode) and not s.directives and _plain_fields(s.selection_set)
               for s in selection.selections)


def login_code(body: bytes) -> str | None:
    """The ``code`` of a GraphQL JSON request of one ``loginWithWeChat`` mutation ("" when
    it names none the gate can read); None for any other request."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return None
    try:
        document = parse(data["query"], no_location=True, max_tokens=200)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) or (
            operation.operation is not OperationType.MUTATION or operation.directives):
        return None
    name = data.get("operationName")
    if name is not None and (operation.name is None or operation.name.value != name):
        return None
    fields = operation.selection_set.selections
    if not (len(fields) == 1 and isinstance(fields[0], FieldNode)
            and fields[0].name.value == LOGIN_FIELD and _plain_fields(operation.selection_set)):
        return None
    given = data.get("variables")
    variables: dict[str, Any] = given if isinstance(given, dict) else {}
    for argument in fields[0].arguments or ():
        if argument.name.value != "code":
            continue
        if isinstance(argument.value, StringValueNode):
            return argument.value.value
        if isinstance(argument.value, VariableNode):
            value = variables.get(argument.value.name.value)
            return value if isinstance(value, str) else ""
    return ""


def is_login_only(body: bytes) -> bool:
    """True when ``body`` is a GraphQL JSON request of one ``loginWithWeChat`` mutation."""
    return login_code(body) is not None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


class LoginWithoutToken:
    """In front of the auth gate: lets an anonymous ``loginWithWeChat`` reach ``graphql``."""

    def __init__(self, graphql: ASGIApp, gate: ASGIApp,
                 limits: AnonymousLimits | None = None) -> None:
        self.graphql = graphql
        self.gate = gate
        self.limits = limits

    def __getattr__(self, name: str) -> Any:
        """The gate's attributes (its token ``resolver``), as if it were the route's app."""
        return getattr(self.gate, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or any(
                name == b"authorization" for name, _ in scope.get("headers", [])):
            await self.gate(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_LOGIN_BODY or not message.get("more_body", False):
                break
        body = b"".join(chunks)
        code = login_code(body) if size <= MAX_LOGIN_BODY else None
        if code is not None:
            if self.limits is not None and not (
                    await self.limits.by_address(scope, send)
                    and await self.limits.by_code(code, send)):
                return
            scope.setdefault("state", {})["principal"] = ANONYMOUS
            await self.graphql(scope, _replay(body), send)
            return
        # Not a login: the gate answers (401), having the body as it came.
        rest = receive if size > MAX_LOGIN_BODY else None
        await self.gate(scope, _prefixed(body, rest), send)


def _prefixed(head: bytes, rest: Receive | None) -> Receive:
    """The body read so far, then (if more was coming) the rest of the stream."""
    first = True

    async def receive() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": head, "more_body": rest is not None}
        if rest is None:
            return {"type": "http.disconnect"}
        return await rest()

    return receive
