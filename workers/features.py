"""What each capability adds to a worker process: its actors, and the loops that feed them.

A worker process is the sum of its features (:class:`workers.process.WorkerProcess`).
Each builder declares the feature's Dramatiq actors on the broker (every process that
consumes needs them) and, where the process produces (``options.produce``), the loops
that project outboxes, dispatch due work and schedule ticks. Nothing runs until the
process starts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import dramatiq
from eventsourcing.postgres import PostgresDatastore

from adapters.campaign_gateway import CampaignGateway
from adapters.contact_ways import ContactWayGateway
from adapters.corp_tags import CorpTagGateway
from adapters.group_chats import GroupChatGateway
from adapters.moment_client import MomentGateway
from adapters.wecom_client import OutboundGateway, StaffMessageGateway
from application.app import Siyu
from projections.leases import Leases
from projections.read_model_setup import create_read_models
from projections.runner import BatchRunner, Tracker
from workers.alerts import (
    AlertDeps,
    AlertOutboxView,
    AlertStore,
    ChatTimeoutChecker,
    declare_alert_actor,
)
from workers.auto_tag import AutoTagger
from workers.campaign_groups import GroupCampaignSender
from workers.campaign_sending import CampaignDeps, declare_campaign_actor
from workers.campaign_store import CampaignStore
from workers.campaigns import CampaignDispatcher, CampaignLauncher
from workers.channel_codes import ChannelCodeSync
from workers.clock import ClockScheduler, declare_clock_actor
from workers.confirmation_tasks import ConfirmationTasks
from workers.corp_tags import CorpTagSync
from workers.daily_report import DailyReportScheduler, ReportDeps, ReportStore, declare_report_actor
from workers.group_sync import GroupDirectorySync
from workers.group_tasks import GroupTaskLifecycle
from workers.lent import Connect
from workers.mass_send_lifecycle import MassSendLifecycle
from workers.moments import MomentSync
from workers.options import WorkerOptions
from workers.outbox import Dispatcher, OutboxStore, WelcomeOutboxView
from workers.sops import SopDeps, SopDispatcher, SopStore, declare_sop_actor
from workers.wecom_quota import WeComQuotaSync
from workers.welcome import WelcomeDeps, declare_welcome_actor


class Loop(Protocol):
    """A long-running part: runs in a thread of its own until stopped."""

    def run_forever(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Feature:
    name: str
    loops: dict[str, Loop] = field(default_factory=dict)


@dataclass(kw_only=True)
class Welcome(Feature):
    """Welcome messages: the outbox projection, its dispatcher, the sending actor."""

    store: OutboxStore
    deps: WelcomeDeps
    actor: Any

    def enqueue(self, outbox_key: str) -> None:
        self.actor.send(outbox_key)


def _sender(actor: Any) -> Callable[..., None]:
    """Enqueue through ``actor`` (the loops want no message back)."""
    def send(*args: Any) -> None:
        actor.send(*args)
    return send


def _tracker(app: Siyu) -> Tracker:
    return Tracker(cast(PostgresDatastore, app.factory.datastore))  # type: ignore[attr-defined]


def leases(found: Leases) -> Feature:
    """The connection that holds the worker's outbox projections' locks and LISTENs
    (one per process, however many outboxes it projects)."""
    return Feature("leases", loops={"leases": found})


def welcome(app: Siyu, broker: dramatiq.Broker, gateway: OutboundGateway,
            store: OutboxStore, options: WorkerOptions,
            leases: Leases | None = None) -> Welcome:
    deps = WelcomeDeps(app=app, store=store, gateway=gateway, templates=options.templates,
                       retry=options.retry)
    feature = Welcome("welcome", store=store, deps=deps,
                      actor=declare_welcome_actor(broker, deps, queue_name=options.queue_name))
    if options.produce:
        view = WelcomeOutboxView(max_age=options.max_age)
        tracker = _tracker(app)
        feature.loops["welcome-outbox-projection"] = BatchRunner(
            app, view, tracker, poll_interval=options.projection_poll_interval,
            lease=None if leases is None else leases.lease(view.name), create=False)
        create_read_models(tracker, [view], stamped=True)  # no DDL when current
        feature.loops["welcome-dispatcher"] = Dispatcher(
            store, feature.enqueue, stale_after=options.stale_after,
            poll_interval=options.dispatch_interval)
    return feature


def clock(app: Siyu, broker: dramatiq.Broker, options: WorkerOptions) -> Feature:
    """Clock ticks: time-window segments are re-evaluated once per slot."""
    actor = declare_clock_actor(broker, app, queue_name=options.clock_queue)
    feature = Feature("clock")
    if options.produce:
        feature.loops["clock-scheduler"] = ClockScheduler(_sender(actor), options.tick_minutes)
    return feature


def alerts(app: Siyu, broker: dramatiq.Broker, store: AlertStore,
           gateway: StaffMessageGateway, options: WorkerOptions,
           leases: Leases | None = None) -> Feature:
    """Supervision alerts: their outbox, the chat-timeout checker, the sending actor."""
    store.create()
    actor = declare_alert_actor(broker, AlertDeps(app=app, store=store, gateway=gateway,
                                                  retry=options.retry),
                                queue_name=options.alert_queue)
    feature = Feature("alerts")
    if options.produce:
        view = AlertOutboxView()
        tracker = _tracker(app)
        feature.loops["alert-outbox-projection"] = BatchRunner(
            app, view, tracker, poll_interval=options.projection_poll_interval,
            lease=None if leases is None else leases.lease(view.name), create=False)
        create_read_models(tracker, [view], stamped=True)  # no DDL when current
        feature.loops["alert-dispatcher"] = Dispatcher(
            store, _sender(actor), stale_after=options.stale_after,
            poll_interval=options.dispatch_interval)
        feature.loops["chat-timeout-checker"] = ChatTimeoutChecker(
            store, options.chat_timeout, options.chat_timeout_escalation,
            poll_interval=options.timeout_check_interval)
    return feature


def daily_reports(app: Siyu, broker: dramatiq.Broker, store: ReportStore,
                  gateway: StaffMessageGateway, options: WorkerOptions) -> Feature:
    actor = declare_report_actor(broker, ReportDeps(app=app, store=store, gateway=gateway,
                                                    retry=options.retry),
                                 queue_name=options.report_queue)
    feature = Feature("daily-reports")
    if options.produce:
        feature.loops["daily-report-scheduler"] = DailyReportScheduler(
            _sender(actor), hour=options.report_hour)
    return feature


def auto_tags(app: Siyu, connect: Connect, options: WorkerOptions) -> Feature:
    """Auto-tag rules: members of a segment with ``autoTag`` are tagged once."""
    feature = Feature("auto-tags")
    if options.produce:
        feature.loops["auto-tagger"] = AutoTagger(app, connect)
    return feature


def campaigns(app: Siyu, broker: dramatiq.Broker, deps: CampaignDeps,
              options: WorkerOptions) -> Feature:
    """Campaigns: launches, chunked sends, WeCom mass-send results and confirmation tasks."""
    actor = declare_campaign_actor(broker, deps, queue_name=options.campaign_queue)
    feature = Feature("campaigns")
    if options.produce:
        store: CampaignStore = deps.store
        feature.loops["campaign-dispatcher"] = CampaignDispatcher(
            store, _sender(actor), stale_after=options.campaign_stale_after,
            poll_interval=options.campaign_dispatch_interval)
        feature.loops["campaign-launcher"] = CampaignLauncher(app, store, _tracker(app))
        feature.loops["group-campaigns"] = GroupCampaignSender(deps)
        feature.loops["mass-send-lifecycle"] = MassSendLifecycle(
            deps, confirm_within=options.mass_send_confirm_within,
            poll_interval=options.mass_send_poll_interval)
        feature.loops["group-task-lifecycle"] = GroupTaskLifecycle(
            deps, confirm_within=options.mass_send_confirm_within,
            poll_interval=options.mass_send_poll_interval)
        feature.loops["confirmation-tasks"] = ConfirmationTasks(
            app, store.pool, confirm_within=options.mass_send_confirm_within)
        corp_id = getattr(deps.gateway, "corp_id", None)  # a real or fake WeCom client
        if isinstance(corp_id, str):
            feature.loops["wecom-quota-sync"] = WeComQuotaSync(
                deps, corp_id, poll_interval=options.wecom_quota_poll_interval)
    return feature


def sops(broker: dramatiq.Broker, deps: CampaignDeps, options: WorkerOptions) -> Feature:
    """SOP steps: sent through the campaigns' gateway and limiter, under the same caps."""
    store = SopStore(deps.store.pool)
    actor = declare_sop_actor(broker, SopDeps(deps, store), queue_name=options.sop_queue)
    feature = Feature("sops")
    if options.produce:
        feature.loops["sop-dispatcher"] = SopDispatcher(
            store, _sender(actor), stale_after=options.campaign_stale_after,
            poll_interval=options.sop_dispatch_interval)
    return feature


def campaign_deps(app: Siyu, gateway: CampaignGateway, store: CampaignStore,
                  options: WorkerOptions) -> CampaignDeps:
    return CampaignDeps(app=app, store=store, gateway=gateway, rates=dict(options.campaign_rates),
                        intent_lease=options.send_intent_lease.total_seconds())


def channel_codes(app: Siyu, connect: Connect, gateway: ContactWayGateway,
                  options: WorkerOptions) -> Feature:
    """Channel codes: tell WeCom (「联系我」) and give the codes' tags to who added through them."""
    feature = Feature("channel-codes")
    if options.produce:
        feature.loops["channel-code-sync"] = ChannelCodeSync(app, connect, gateway)
    return feature


def corp_tags(app: Siyu, corp_id: str, gateway: CorpTagGateway, options: WorkerOptions
              ) -> Feature:
    """Corp tags: keep the platform's copy of the corp's WeCom tag library (moment tasks'
    tag ids)."""
    feature = Feature("corp-tags")
    if options.produce:
        feature.loops["corp-tag-sync"] = CorpTagSync(app, corp_id, gateway)
    return feature


def moments(app: Siyu, connect: Connect, gateway: MomentGateway, options: WorkerOptions
            ) -> Feature:
    """Moments: submit enterprise moment tasks, follow them, record every member's posts."""
    feature = Feature("moments")
    if options.produce:
        feature.loops["moment-sync"] = MomentSync(app, connect, gateway)
    return feature


def group_directory(app: Siyu, connect: Connect, gateway: GroupChatGateway, corp_id: str,
                    options: WorkerOptions) -> Feature:
    """The customer-group directory from WeCom: names, owners, sizes, dismissals."""
    feature = Feature("group-directory")
    if options.produce:
        feature.loops["group-directory-sync"] = GroupDirectorySync(
            app, connect, gateway, corp_id, poll_interval=options.group_sync_interval)
    return feature
