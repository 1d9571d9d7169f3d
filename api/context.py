"""Per-request context: the principal and the services resolvers may use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader

from adapters.rate_buckets import RateBuckets
from adapters.tokens import TokenStore
from adapters.vault import AesGcmVault
from adapters.wechat_login import WeChatLogin
from api.auth import Principal
from api.batcher import WriteBatcher
from api.live import LeaderboardHub
from api.read_models import ReadModels
from application.app import Siyu
from domain.campaign import sender_user_id, staff_senders
from projections.customer_as_of import queries as as_of_queries
from projections.runner import Tracker
from projections.staff_directory.queries import wecom_user_ids


@dataclass
class Services:
    """Built once per process in the starlette lifespan."""

    app: Siyu
    read_models: ReadModels
    tracker: Tracker
    vault: AesGcmVault
    blind_key: bytes
    batcher: WriteBatcher
    max_batch: int = 5000
    leaderboards: LeaderboardHub | None = None
    #: A chat wait longer than this (working time) counts as timed out in the KPIs.
    chat_timeout_seconds: int = 1800
    tokens: TokenStore | None = None
    #: Called after the API records a staff change or revokes a token: forget cached
    #: principals, so the change applies to the next request.
    principals_changed: Callable[[], None] = field(default=lambda: None)
    #: The mini-program's ``code2session`` (None: customers cannot log in with WeChat).
    wechat_login: WeChatLogin | None = None
    #: Mints a short-lived customer token for a customer id: (token, expires at).
    customer_sessions: Callable[[str], tuple[str, datetime]] | None = None
    #: Revokes every token of a customer id (erasure); how many were live.
    revoke_customer_tokens: Callable[[str], int] | None = None
    #: The rate-limit buckets every API process shares (None: each process its own).
    rate_buckets: RateBuckets | None = None
    #: Platform tag → WeCom tag id (``SIYU_WECOM_TAG_IDS``): overrides the synced library.
    wecom_tag_ids: Mapping[str, str] = field(default_factory=dict)


class Context:
    """Built per request; loaders are made on first use (most requests need none)."""

    def __init__(self, principal: Principal, services: Services, request: Any = None,
                 response: Any = None) -> None:
        self.principal = principal
        self.services = services
        self.request = request
        self.response = response
        #: graphql-transport-ws: the connection_init payload (set by strawberry).
        self.connection_params: dict[str, Any] | None = None

    @cached_property
    def sender_user_ids(self) -> DataLoader[str, str | None]:
        """The WeCom UserID each planned sender sends a mass message under (None: none),
        one query per batch."""
        pool = self.services.read_models.pool

        async def load(senders: list[str]) -> list[str | None]:
            directory = await wecom_user_ids(pool, staff_senders(senders))
            return [sender_user_id(s, directory) for s in senders]

        return DataLoader(load_fn=load)

    @cached_property
    def personal(self) -> DataLoader[UUID, dict[str, str]]:
        """Decrypted vault fields per subject, one query per batch of subjects."""
        read_models = self.services.read_models
        vault = self.services.vault

        async def load_personal(ids: list[UUID]) -> list[dict[str, str]]:
            sealed = await read_models.vault(ids)
            out: list[dict[str, str]] = []
            for subject in ids:
                entry = sealed.get(subject)
                if entry is None:
                    out.append({})
                    continue
                wrapped, fields = entry
                out.append({name: vault.open(wrapped, subject, name, value)
                            for name, value in fields.items()})
            return out

        return DataLoader(load_fn=load_personal)

    @cached_property
    def owners(self) -> DataLoader[UUID, str | None]:
        """The staff member in charge of each customer now, one query per batch."""
        pool = self.services.read_models.pool

        async def load_owners(ids: list[UUID]) -> list[str | None]:
            found = await as_of_queries.current_owners(pool, ids)
            return [found.get(i) for i in ids]

        return DataLoader(load_fn=load_owners)
