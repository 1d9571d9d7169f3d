"""Persisted operations: an allow-list of operation texts, each known by its SHA-256.

The list is an Apollo persisted-query manifest (the file ``generate-persisted-query-manifest``
writes for an Apollo Client front end, or ``siyu persisted-queries add`` for ``.graphql``
files)::

    {"format": "apollo-persisted-query-manifest", "version": 1,
     "operations": [{"id": "<sha256 hex of body>", "name": "Me", "type": "query",
                     "body": "query Me { me { id } }"}]}

A client sends an operation by its hash the way Apollo's persisted-query link does:
``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<id>"}}, "variables": …}``
(by POST, or by GET with ``extensions`` and ``variables`` as JSON query parameters). The
server never learns new operations from requests: a hash not in the list is refused with
``PERSISTED_QUERY_NOT_FOUND``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.errors import ApiError

FORMAT = "apollo-persisted-query-manifest"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
PERSISTED_QUERY_MISMATCH = "PERSISTED_QUERY_MISMATCH"
BAD_REQUEST = "BAD_REQUEST"


class ManifestError(ValueError):
    """A persisted-query manifest the server cannot use (named in the message)."""


def sha256_hex(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PersistedOperation:
    id: str
    name: str
    type: str
    body: str


@dataclass(frozen=True)
class PersistedQueries:
    operations: Mapping[str, PersistedOperation]

    @classmethod
    def load(cls, path: Path) -> PersistedQueries:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ManifestError(f"{path}: cannot read the manifest ({error})") from None
        return cls.from_manifest(data, str(path))

    @classmethod
    def from_manifest(cls, data: Any, where: str = "manifest") -> PersistedQueries:
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
            raise ManifestError(f"{where}: not an {FORMAT} of version 1")
        operations: dict[str, PersistedOperation] = {}
        for index, entry in enumerate(data.get("operations") or []):
            if not isinstance(entry, dict) or not isinstance(entry.get("body"), str):
                raise ManifestError(f"{where}: operations[{index}] has no body")
            body: str = entry["body"]
            if entry.get("id") != sha256_hex(body):
                raise ManifestError(f"{where}: operations[{index}].id is not the SHA-256 "
                                    "of its body")
            operations[entry["id"]] = PersistedOperation(
                id=entry["id"], name=str(entry.get("name") or ""),
                type=str(entry.get("type") or "query"), body=body)
        return cls(operations=operations)

    def manifest(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": 1, "operations": [
            {"id": op.id, "name": op.name, "type": op.type, "body": op.body}
            for op in sorted(self.operations.values(), key=lambda op: (op.name, op.id))]}

    def with_operations(self, operations: Iterable[PersistedOperation]) -> PersistedQueries:
        return PersistedQueries(operations={**self.operations, **{op.id: op for op in operations}})

    def resolve(self, query: str | None, extensions: Any, *, require: bool) -> str:
        """The operation text to run for a request's ``query`` and ``extensions``, or the
        typed refusal (an :class:`ApiError`) to answer."""
        wanted = persisted_hash(extensions)
        if wanted is None:
            if query is None:
                raise ApiError(BAD_REQUEST, "send a query, or a persisted query's sha256Hash "
                               "in extensions.persistedQuery")
            if require and sha256_hex(query) not in self.operations:
                raise ApiError(PERSISTED_QUERY_REQUIRED, "this server runs persisted "
                               "operations only; send extensions.persistedQuery.sha256Hash")
            return query
        if query is not None and sha256_hex(query) != wanted:
            raise ApiError(PERSISTED_QUERY_MISMATCH, "the query is not the one sha256Hash names")
        operation = self.operations.get(wanted)
        if operation is None:
            raise ApiError(PERSISTED_QUERY_NOT_FOUND, "no persisted operation has this hash; "
                           "register it in the manifest (siyu persisted-queries add)")
        return operation.body


def persisted_hash(extensions: Any) -> str | None:
    """``extensions.persistedQuery.sha256Hash`` when the request carries one (refusing a
    malformed one)."""
    if extensions is None:
        return None
    if not isinstance(extensions, dict):
        raise ApiError(BAD_REQUEST, "extensions must be an object")
    persisted = extensions.get("persistedQuery")
    if persisted is None:
        return None
    digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if not isinstance(digest, str) or len(digest) != 64 or not all(
            c in "0123456789abcdef" for c in digest):
        raise ApiError(BAD_REQUEST, "extensions.persistedQuery.sha256Hash must be 64 "
                       "lower-case hex digits", field="extensions.persistedQuery.sha256Hash")
    if persisted.get("version", 1) != 1:
        raise ApiError(BAD_REQUEST, "extensions.persistedQuery.version must be 1")
    return digest


NO_PERSISTED_QUERIES = PersistedQueries(operations={})
