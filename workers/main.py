"""The worker's wiring point: app, broker, gateway, outbox projection, dispatcher, Dramatiq.

``build_pipeline(settings)`` returns a :class:`WelcomePipeline` to run in-process
(``start()`` / ``stop()``, or as a context manager); ``run_worker(settings)`` runs one
until SIGINT/SIGTERM (the ``siyu worker`` command).

Several worker processes may consume the queue. Projecting the outbox is single-writer
(the projection runner holds an advisory lock, a second one waits); dispatching is safe
from several processes (rows are claimed with ``SKIP LOCKED``). ``run_worker(processes=N)``
starts N-1 consumer-only processes beside the full one.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any, cast

import dramatiq
from eventsourcing.postgres import PostgresDatastore

from application.app import Siyu
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from siyu.settings import Settings
from workers.alerts import (
    ALERT_QUEUE,
    AlertDeps,
    AlertOutboxView,
    AlertStore,
    ChatTimeoutChecker,
    declare_alert_actor,
)
from workers.auto_tag import AutoTagger
from workers.broker import make_broker
from workers.campaign_client import WeComCampaignGateway
from workers.campaign_gateway import CampaignGateway
from workers.campaigns import (
    CAMPAIGN_QUEUE,
    CampaignDeps,
    CampaignDispatcher,
    CampaignLauncher,
    CampaignStore,
    MassSendSync,
    declare_campaign_actor,
)
from workers.clock import CLOCK_QUEUE, ClockScheduler, declare_clock_actor
from workers.confirmation_tasks import ConfirmationTasks
from workers.daily_report import (
    REPORT_QUEUE,
    DailyReportScheduler,
    ReportDeps,
    ReportStore,
    declare_report_actor,
)
from workers.fake_campaigns import FakeCampaigns
from workers.fake_sms import FAKE_SMS_APP_ID, FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY
from workers.fake_wecom import (
    FAKE_APP_ID,
    FAKE_APP_SECRET,
    FAKE_CORP_ID,
    FAKE_CORP_SECRET,
    FakeWeCom,
    RunningFakeWeCom,
    run_fake_wecom,
)
from workers.gateway import OutboundGateway, StaffMessageGateway, WeComGateway
from workers.outbox import Dispatcher, OutboxStore, WelcomeOutboxView
from workers.sms_client import TencentSms
from workers.sops import SOP_QUEUE, SopDeps, SopDispatcher, SopStore, declare_sop_actor
from workers.welcome import (
    DEFAULT_QUEUE,
    TEMPLATES,
    RetryPolicy,
    WelcomeDeps,
    WelcomeTemplate,
    declare_welcome_actor,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """Tuning of one worker process; the defaults suit production."""

    threads: int = 4  # Dramatiq worker threads
    queue_name: str = DEFAULT_QUEUE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Re-enqueue a row still pending this long after its last enqueue (lost message,
    #: retries exhausted by a crash loop). Keep it above the longest retry backoff.
    stale_after: timedelta = timedelta(minutes=5)
    dispatch_interval: float = 0.5  # seconds between outbox polls
    projection_poll_interval: float = 0.5  # safety-net poll of the event log (NOTIFY wakes it)
    #: FriendAdded recorded longer ago than this is not sent (first run over old history);
    #: WeCom's welcome codes live ~20 seconds. None sends everything.
    max_age: timedelta | None = timedelta(hours=1)
    worker_timeout: int = 1_000  # ms a consumer waits for messages; bounds stop() latency
    postgres_poll_interval: float = 1.0  # dramatiq-postgres' poll when no NOTIFY arrives
    templates: Mapping[str, WelcomeTemplate] = field(default_factory=lambda: TEMPLATES)
    produce: bool = True  # run the outbox projection, the dispatcher and the clock
    #: Length of a clock slot: time-window segments are re-evaluated once per slot.
    tick_minutes: int = 60
    clock_queue: str = CLOCK_QUEUE
    campaign_queue: str = CAMPAIGN_QUEUE
    #: Sends per second per campaign channel, shared by every worker (absent: no limit).
    campaign_rates: Mapping[str, float] = field(default_factory=dict)
    campaign_dispatch_interval: float = 0.5
    campaign_stale_after: timedelta = timedelta(minutes=5)
    mass_send_poll_interval: float = 60.0  # seconds between reads of WeCom task results
    sop_queue: str = SOP_QUEUE
    sop_dispatch_interval: float = 1.0  # seconds between polls of due SOP steps
    consume: bool = True  # run a Dramatiq worker for the queue
    #: Consume only these queues (e.g. ``{campaign_queue}`` for a process dedicated to
    #: sending campaigns); None: every queue of the declared actors.
    consume_queues: frozenset[str] | None = None
    alert_queue: str = ALERT_QUEUE
    #: A customer message unanswered this long alerts the staff member; the second limit
    #: escalates to the managers.
    chat_timeout: timedelta = timedelta(minutes=30)
    chat_timeout_escalation: timedelta = timedelta(hours=2)
    timeout_check_interval: float = 30.0  # seconds between chat-timeout checks
    report_queue: str = REPORT_QUEUE
    #: Daily reports for yesterday are built once it is past this hour in Shanghai.
    report_hour: int = 8


def options_for(settings: Settings, *, threads: int = 4, produce: bool = True
                ) -> PipelineOptions:
    """The options the environment sets (clock slot, chat-timeout limits, report hour,
    campaign rates)."""
    return PipelineOptions(
        threads=threads, produce=produce, tick_minutes=settings.tick_minutes,
        campaign_rates=dict(settings.campaign_rates),
        chat_timeout=timedelta(minutes=settings.chat_timeout_minutes),
        chat_timeout_escalation=timedelta(minutes=settings.chat_escalation_minutes),
        report_hour=settings.report_hour)


def gateway_for(settings: Settings) -> WeComGateway:
    """The WeCom client: ``WECOM_API_BASE``, else the local fake on its port."""
    base = settings.wecom_api_base or f"http://127.0.0.1:{settings.fake_gateway_port}"
    corp_id = settings.wecom_corp_id or FAKE_CORP_ID
    corp_secret = settings.wecom_corp_secret or FAKE_CORP_SECRET
    return WeComGateway(base, str(corp_id), str(corp_secret))


def campaign_gateway_for(settings: Settings) -> WeComCampaignGateway:
    """The campaign client: ``WECOM_API_BASE`` (and the mini-program settings for direct
    messages), else the local fake for both, with the fake's ``dedupe_key`` extension on."""
    fake = f"http://127.0.0.1:{settings.fake_gateway_port}"
    on_fake = settings.wecom_api_base is None
    app_id, app_secret = settings.miniprogram_app_id, settings.miniprogram_app_secret
    direct_base = settings.miniprogram_api_base
    if on_fake and not app_id:
        app_id, app_secret, direct_base = FAKE_APP_ID, FAKE_APP_SECRET, fake
    return WeComCampaignGateway(
        settings.wecom_api_base or fake, str(settings.wecom_corp_id or FAKE_CORP_ID),
        str(settings.wecom_corp_secret or FAKE_CORP_SECRET), app_id=app_id,
        app_secret=app_secret, direct_base_url=direct_base, send_dedupe_key=on_fake,
        sms=sms_for(settings))


def sms_for(settings: Settings) -> TencentSms:
    """Tencent Cloud SMS at ``SMS_API_BASE``, else the local fake's ``/sms``."""
    if settings.sms_api_base is None:
        return TencentSms(f"http://127.0.0.1:{settings.fake_gateway_port}/sms",
                          FAKE_SMS_SECRET_ID, FAKE_SMS_SECRET_KEY, FAKE_SMS_APP_ID, "siyu")
    return TencentSms(settings.sms_api_base, str(settings.sms_secret_id),
                      str(settings.sms_secret_key), str(settings.sms_sdk_app_id),
                      str(settings.sms_sign_name), region=settings.sms_region)


def fake_wecom_for(settings: Settings) -> FakeWeCom:
    """The fake's state for the worker and the demo: tasks confirm themselves."""
    return FakeWeCom(campaigns=FakeCampaigns(
        auto_confirm_after=settings.fake_auto_confirm_seconds))


class WelcomePipeline:
    """Everything one worker process runs; ``start()`` returns at once, ``stop()`` is clean."""

    def __init__(self, *, app: Siyu, broker: dramatiq.Broker,
                 gateway: OutboundGateway, store: OutboxStore, options: PipelineOptions,
                 closers: list[Callable[[], None]] | None = None,
                 database_url: str | None = None,
                 campaign_gateway: CampaignGateway | None = None,
                 campaign_store: CampaignStore | None = None,
                 staff_gateway: StaffMessageGateway | None = None) -> None:
        self.app = app
        self.broker = broker
        self.gateway = gateway
        self.store = store
        self.options = options
        self._closers = closers or []
        self.deps = WelcomeDeps(app=app, store=store, gateway=gateway,
                                templates=options.templates, retry=options.retry)
        self.actor = declare_welcome_actor(broker, self.deps, queue_name=options.queue_name)
        self.clock_actor = declare_clock_actor(broker, app, queue_name=options.clock_queue)
        self.alert_store = AlertStore(store.pool)
        self.alert_store.create()
        # The WeCom client sends both; a gateway given for welcomes only needs a staff one.
        self.staff_gateway = staff_gateway or cast(StaffMessageGateway, gateway)
        self.alert_actor = declare_alert_actor(
            broker, AlertDeps(app=app, store=self.alert_store, gateway=self.staff_gateway,
                              retry=options.retry), queue_name=options.alert_queue)
        reports = ReportStore(store.pool,
                              chat_timeout_seconds=int(options.chat_timeout.total_seconds()))
        self.report_actor = declare_report_actor(
            broker, ReportDeps(app=app, store=reports, gateway=self.staff_gateway,
                               retry=options.retry), queue_name=options.report_queue)
        self.reports: DailyReportScheduler | None = None
        self.alert_runner: BatchRunner | None = None
        self.alert_dispatcher: Dispatcher | None = None
        self.timeouts: ChatTimeoutChecker | None = None
        self.runner: BatchRunner | None = None
        self.dispatcher: Dispatcher | None = None
        self.clock: ClockScheduler | None = None
        self.tagger: AutoTagger | None = None
        if options.produce and database_url is not None:
            self.tagger = AutoTagger(app, database_url)
        self.campaign_actor: dramatiq.Actor[[str, int, list[str]], None] | None = None
        self.campaign_dispatcher: CampaignDispatcher | None = None
        self.campaign_launcher: CampaignLauncher | None = None
        self.mass_send_sync: MassSendSync | None = None
        self.sop_actor: dramatiq.Actor[[list[str]], None] | None = None
        self.sop_dispatcher: SopDispatcher | None = None
        self.confirmation_tasks: ConfirmationTasks | None = None
        if campaign_gateway is not None and campaign_store is not None:
            deps = CampaignDeps(app=app, store=campaign_store, gateway=campaign_gateway,
                                rates=dict(options.campaign_rates))
            self.campaign_actor = declare_campaign_actor(broker, deps,
                                                         queue_name=options.campaign_queue)
            sop_store = SopStore(campaign_store.pool)  # SOP steps: the same gateway and limiter
            self.sop_actor = declare_sop_actor(broker, SopDeps(deps, sop_store),
                                               queue_name=options.sop_queue)
            if options.produce:
                self.sop_dispatcher = SopDispatcher(
                    sop_store, self.enqueue_sop_steps, stale_after=options.campaign_stale_after,
                    poll_interval=options.sop_dispatch_interval)
            if options.produce:
                self.campaign_dispatcher = CampaignDispatcher(
                    campaign_store, self.enqueue_campaign_chunk,
                    stale_after=options.campaign_stale_after,
                    poll_interval=options.campaign_dispatch_interval)
                self.mass_send_sync = MassSendSync(deps,
                                                   poll_interval=options.mass_send_poll_interval)
                self.confirmation_tasks = ConfirmationTasks(app, campaign_store.pool)
                self.campaign_launcher = CampaignLauncher(
                    app, campaign_store,
                    Tracker(cast(PostgresDatastore, app.factory.datastore)))  # type: ignore[attr-defined]
        if options.produce:
            self.clock = ClockScheduler(self.enqueue_tick, options.tick_minutes)
            datastore = cast(PostgresDatastore, app.factory.datastore)  # type: ignore[attr-defined]
            self.runner = BatchRunner(app, WelcomeOutboxView(max_age=options.max_age),
                                      Tracker(datastore),
                                      poll_interval=options.projection_poll_interval)
            self.dispatcher = Dispatcher(store, self.enqueue, stale_after=options.stale_after,
                                         poll_interval=options.dispatch_interval)
            self.alert_runner = BatchRunner(app, AlertOutboxView(), Tracker(datastore),
                                            poll_interval=options.projection_poll_interval)
            self.alert_dispatcher = Dispatcher(
                self.alert_store, self.enqueue_alert, stale_after=options.stale_after,
                poll_interval=options.dispatch_interval)
            self.timeouts = ChatTimeoutChecker(
                self.alert_store, options.chat_timeout, options.chat_timeout_escalation,
                poll_interval=options.timeout_check_interval)
            self.reports = DailyReportScheduler(self.enqueue_reports, hour=options.report_hour)
        self.worker: dramatiq.Worker | None = None
        self._threads: list[threading.Thread] = []
        self.failure: BaseException | None = None
        self.failed = threading.Event()
        self._started = self._stopped = False

    def enqueue(self, outbox_key: str) -> None:
        self.actor.send(outbox_key)

    def enqueue_alert(self, alert_key: str) -> None:
        self.alert_actor.send(alert_key)

    def enqueue_reports(self, day: str) -> None:
        self.report_actor.send(day)

    def enqueue_tick(self, slot: str) -> None:
        self.clock_actor.send(slot)

    def enqueue_campaign_chunk(self, campaign_id: str, step: int, customers: list[str]) -> None:
        assert self.campaign_actor is not None
        self.campaign_actor.send(campaign_id, step, customers)

    def enqueue_sop_steps(self, items: list[str]) -> None:
        assert self.sop_actor is not None
        self.sop_actor.send(items)

    def start(self) -> WelcomePipeline:
        if self._started:
            return self
        self._started = True
        if self.options.consume:
            self.worker = dramatiq.Worker(self.broker, worker_threads=self.options.threads,
                                          worker_timeout=self.options.worker_timeout,
                                          queues=None if self.options.consume_queues is None
                                          else set(self.options.consume_queues))
            self.worker.start()
        if self.runner is not None:
            self._spawn("welcome-outbox-projection", self.runner.run_forever)
        if self.dispatcher is not None:
            self._spawn("welcome-dispatcher", self.dispatcher.run_forever)
        if self.clock is not None:
            self._spawn("clock-scheduler", self.clock.run_forever)
        if self.tagger is not None:
            self._spawn("auto-tagger", self.tagger.run_forever)
        if self.campaign_dispatcher is not None:
            self._spawn("campaign-dispatcher", self.campaign_dispatcher.run_forever)
        if self.campaign_launcher is not None:
            self._spawn("campaign-launcher", self.campaign_launcher.run_forever)
        if self.mass_send_sync is not None:
            self._spawn("mass-send-sync", self.mass_send_sync.run_forever)
        if self.sop_dispatcher is not None:
            self._spawn("sop-dispatcher", self.sop_dispatcher.run_forever)
        for name, part in (("confirmation-tasks", self.confirmation_tasks),
                           ("alert-outbox-projection", self.alert_runner),
                           ("alert-dispatcher", self.alert_dispatcher),
                           ("chat-timeout-checker", self.timeouts),
                           ("daily-report-scheduler", self.reports)):
            if part is not None:
                self._spawn(name, part.run_forever)
        log.info("welcome pipeline started (queue %s, %d threads)", self.options.queue_name,
                 self.options.threads)
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as error:
                log.exception("%s stopped", name)
                self.failure = error
                self.failed.set()

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop producing, let in-flight messages finish, close every connection."""
        if self._stopped:
            return
        self._stopped = True
        if self.runner is not None:
            self.runner.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.clock is not None:
            self.clock.stop()
        if self.tagger is not None:
            self.tagger.stop()
        if self.campaign_dispatcher is not None:
            self.campaign_dispatcher.stop()
        if self.campaign_launcher is not None:
            self.campaign_launcher.stop()
        if self.mass_send_sync is not None:
            self.mass_send_sync.stop()
        if self.sop_dispatcher is not None:
            self.sop_dispatcher.stop()
        for part in (self.confirmation_tasks, self.alert_runner, self.alert_dispatcher,
                     self.timeouts, self.reports):
            if part is not None:
                part.stop()
        for thread in self._threads:
            thread.join(timeout)
        if self.worker is not None:
            self.worker.stop(timeout=int(timeout * 1000))
        self.broker.close()
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("while closing the welcome pipeline")
        log.info("welcome pipeline stopped")

    def __enter__(self) -> WelcomePipeline:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def build_pipeline(settings: Settings, *, threads: int = 4,
                   options: PipelineOptions | None = None,
                   gateway: OutboundGateway | None = None,
                   app: Siyu | None = None,
                   campaign_gateway: CampaignGateway | None = None,
                   campaigns: bool = True) -> WelcomePipeline:
    """Wire the welcome pipeline from settings (nothing runs until ``start()``).

    ``gateway`` defaults to :func:`gateway_for` (``WECOM_API_BASE`` or the local fake's
    port; the fake itself is not started here). ``app`` defaults to a new application
    that the pipeline closes on ``stop()``; a given one is left open. With ``campaigns``
    (the default) it also sends campaigns, through ``campaign_gateway`` or
    :func:`campaign_gateway_for`.
    """
    if settings.database_url is None:
        raise ValueError("the worker needs settings.database_url (the CLI provides one)")
    options = options or options_for(settings, threads=threads)
    closers: list[Callable[[], None]] = []
    try:
        if app is None:
            app = build_application(settings.database_url, settings.secret)
            closers.append(app.close)
        store = OutboxStore.connect(settings.database_url, max_size=options.threads + 2)
        closers.append(store.close)
        if gateway is None:
            client = gateway_for(settings)
            closers.append(client.close)
            gateway = client
        broker = make_broker(settings.broker_url, settings.database_url,
                             postgres_poll_interval=options.postgres_poll_interval)
        campaign_store = None
        if campaign_gateway is None and campaigns:
            campaign_client = campaign_gateway_for(settings)
            closers.append(campaign_client.close)
            campaign_gateway = campaign_client
        if campaign_gateway is not None:
            campaign_store = CampaignStore.connect(settings.database_url,
                                                   max_size=options.threads + 2)
            closers.append(campaign_store.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    return WelcomePipeline(app=app, broker=broker, gateway=gateway, store=store,
                           options=options, closers=closers, database_url=settings.database_url,
                           campaign_gateway=campaign_gateway, campaign_store=campaign_store)


def _wait_for_signal(pipeline: WelcomePipeline) -> None:
    stop = threading.Event()

    def handle(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and not pipeline.failed.is_set():
            stop.wait(0.5)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _consumer_process(settings: Settings, threads: int) -> None:
    """A further worker process: only consumes (the first one projects and dispatches)."""
    logging.basicConfig(level=logging.INFO)
    options = options_for(settings, threads=threads, produce=False)
    pipeline = build_pipeline(settings, options=options).start()
    try:
        _wait_for_signal(pipeline)
    finally:
        pipeline.stop()


def run_worker(settings: Settings, *, processes: int = 1, threads: int = 4,
               serve_fake_gateway: bool | None = None) -> None:
    """Run the welcome pipeline until SIGINT/SIGTERM, then stop cleanly.

    ``serve_fake_gateway`` (default: when ``settings.wecom_api_base`` is unset) also serves
    the fake WeCom on ``settings.fake_gateway_port`` in this process; pass False when the
    caller runs the fake itself.
    """
    if serve_fake_gateway is None:
        serve_fake_gateway = settings.wecom_api_base is None
    fake: RunningFakeWeCom | None = None
    if serve_fake_gateway:
        fake = run_fake_wecom(settings.fake_gateway_port, state=fake_wecom_for(settings))
        log.info("fake WeCom gateway on %s", fake.url)
    children: list[Any] = []
    try:
        pipeline = build_pipeline(settings, threads=threads).start()
        try:
            context = multiprocessing.get_context("spawn")
            for n in range(1, processes):
                child = context.Process(target=_consumer_process, args=(settings, threads),
                                        name=f"siyu-worker-{n}")
                child.start()
                children.append(child)
            _wait_for_signal(pipeline)
        finally:
            for child in children:
                child.terminate()  # SIGTERM: the child stops its pipeline cleanly
            for child in children:
                child.join(60)
            pipeline.stop()
    finally:
        if fake is not None:
            fake.stop()
    if pipeline.failure is not None:
        raise RuntimeError("the welcome pipeline stopped on an error") from pipeline.failure
