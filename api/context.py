"""Per-request context: the principal and the services resolvers may use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader

from api.auth import Principal
from api.read_models import ReadModels, Row
from domain.application import CustomerOperations
from projections.runner import Tracker
from siyu.vault import AesGcmVault


@dataclass
class Services:
    """Built once per process in the starlette lifespan."""

    app: CustomerOperations
    read_models: ReadModels
    tracker: Tracker
    vault: AesGcmVault
    blind_key: bytes
    max_batch: int = 5000


@dataclass
class Context:
    principal: Principal
    services: Services
    request: Any = None
    response: Any = None
    profiles: DataLoader[UUID, Row | None] = field(init=False)
    personal: DataLoader[UUID, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        read_models = self.services.read_models
        vault = self.services.vault

        async def load_profiles(ids: list[UUID]) -> list[Row | None]:
            rows = await read_models.profiles(ids)
            return [rows.get(i) for i in ids]

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

        self.profiles = DataLoader(load_fn=load_profiles)
        self.personal = DataLoader(load_fn=load_personal)
