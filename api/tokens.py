"""API tokens over GraphQL: company managers list them (never a secret: only the token's
id, the first 12 hex digits of its stored hash) and revoke them. Issuing stays on the
command line (``siyu token issue``), where the token is printed once."""

from __future__ import annotations

from datetime import datetime

import strawberry
from anyio import to_thread
from strawberry.types import Info

from adapters.tokens import TokenRow, TokenStore
from api.context import Context
from api.errors import BAD_INPUT, NOT_FOUND, ApiError


@strawberry.type(description="An API token, without its secret.")
class ApiToken:
    id: strawberry.ID = strawberry.field(description="The first 12 hex digits of its hash.")
    kind: str = strawberry.field(description="staff | customer | service")
    subject_id: str
    role_at_issue: str | None = strawberry.field(
        description="The staff member's role when it was issued; the role that applies is "
                    "the directory's, read on each request.")
    grants: list[str]
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: TokenRow) -> ApiToken:
        return cls(id=strawberry.ID(row.token_id), kind=row.kind, subject_id=row.subject_id,
                   role_at_issue=row.role, grants=list(row.grants), label=row.label,
                   created_at=row.created_at, expires_at=row.expires_at,
                   revoked_at=row.revoked_at)


@strawberry.type
class RevokeApiTokenPayload:
    token_id: strawberry.ID


def _store(info: Info[Context, None]) -> TokenStore:
    store = info.context.services.tokens
    if store is None:
        raise ApiError(NOT_FOUND, "this server keeps no token table")
    return store


@strawberry.type
class TokenQuery:
    @strawberry.field(description="API tokens, oldest first (company managers). Filter by "
                                  "the staff, customer or service they stand for.")
    async def api_tokens(self, info: Info[Context, None], subject_id: str | None = None,
                         live_only: bool = True) -> list[ApiToken]:
        if subject_id is not None and not 1 <= len(subject_id) <= 64:
            raise ApiError(BAD_INPUT, "subjectId must be 1-64 characters", field="subjectId")
        store = _store(info)
        rows = await to_thread.run_sync(lambda: store.listing(subject_id, live_only))
        return [ApiToken.from_row(r) for r in rows]


@strawberry.type
class TokenMutation:
    @strawberry.mutation(description="Revoke a token by its id (from apiTokens); it stops "
                                     "working at once on this server, within seconds on "
                                     "others.")
    async def revoke_api_token(self, info: Info[Context, None], id: strawberry.ID
                               ) -> RevokeApiTokenPayload:
        token_id = str(id)
        if len(token_id) != 12 or any(c not in "0123456789abcdef" for c in token_id):
            raise ApiError(BAD_INPUT, "id is a token id from apiTokens (12 hex digits)",
                           field="id")
        store = _store(info)
        if not await to_thread.run_sync(lambda: store.revoke(token_id)):
            raise ApiError(NOT_FOUND, "no live token with this id", field="id")
        info.context.services.principals_changed()
        return RevokeApiTokenPayload(token_id=id)

