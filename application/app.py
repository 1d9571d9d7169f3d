"""The application: one event store, and the capabilities that record into it.

``Siyu`` is eventsourcing's ``Application`` (through :class:`EventStore`: snapshot
intervals, the storable transcoder, the recorder given by the wiring, the one
``transact`` and its ``save_unit``) and *composes* one object per capability —
``app.ingestion.record_batch(...)``, ``app.tags.tag(...)``,
``app.campaigns.draft(...)`` — each a small class of commands over the one unit of
work, instead of inheriting a mixin per capability. It is named after the
application (its ``name``, the prefix of its settings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from eventsourcing.persistence import ApplicationRecorder

from application.activities import Activities
from application.campaigns import Campaigns
from application.channel_codes import ChannelCodes
from application.chat_scripts import ChatScripts
from application.content import Contents
from application.corp_tags import CorpTags
from application.customer_login import CustomerLogin
from application.customers import Customers
from application.daily_reports import DailyReports
from application.identity import OneId
from application.ingestion import Ingestion
from application.moments import Moments
from application.privacy import Privacy
from application.products import Products
from application.referrals import Referrals
from application.segments import Segments
from application.self_service import SelfService
from application.sops import Sops
from application.staff import StaffMembers
from application.supervision import Supervision
from application.tags import Tags
from application.targets import Targets
from application.tasks import MarketingTasks
from application.unit_of_work import EventStore
from application.working_hours import WorkingHoursSetting
from domain.ports import Vault


class Siyu(EventStore):
    """Records what customers and staff do; the single writer of the event log."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        vault: Vault,
        blind_key: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        recorder: ApplicationRecorder | None = None,
    ) -> None:
        super().__init__(env, vault=vault, blind_key=blind_key, clock=clock, recorder=recorder)
        # customers
        self.customers = Customers(self)
        self.identity = OneId(self)
        self.privacy = Privacy(self, self.customers)
        self.referrals = Referrals(self)
        self.supervision = Supervision(self)
        self.channel_codes = ChannelCodes(self)
        self.ingestion = Ingestion(self, self.referrals, self.supervision, self.channel_codes)
        self.tags = Tags(self)
        self.corp_tags = CorpTags(self)
        self.login = CustomerLogin(self, self.ingestion)
        self.self_service = SelfService(self)
        self.segments = Segments(self)
        # marketing
        self.campaigns = Campaigns(self)
        self.sops = Sops(self)
        self.chat_scripts = ChatScripts(self)
        self.activities = Activities(self)
        self.products = Products(self)
        self.contents = Contents(self)
        # staff
        self.staff = StaffMembers(self)
        self.moments = Moments(self, self.staff)
        self.targets = Targets(self)
        self.marketing_tasks = MarketingTasks(self)
        self.daily_reports = DailyReports(self)
        self.working_hours = WorkingHoursSetting(self)
