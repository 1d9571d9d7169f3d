"""The worker process's composition root: settings → adapters → features → a process.

``build_worker(settings)`` returns a :class:`workers.process.WorkerProcess` to run
in-process (``start()`` / ``stop()``, or as a context manager); ``run_worker(settings)``
runs one until SIGINT/SIGTERM (the ``siyu worker`` command); ``run_worker(processes=N)``
starts N-1 consumer-only processes beside the full one.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from types import FrameType
from typing import Any, cast

from prometheus_client import CollectorRegistry

from adapters.campaign_gateway import CampaignGateway
from adapters.wecom_client import OutboundGateway, StaffMessageGateway
from application.app import Siyu
from projections.leases import Leases
from siyu import gateways
from siyu.bootstrap import build_application
from siyu.logs import formatter as log_formatter
from siyu.metrics import queue_depths, registry_for
from siyu.metrics import serve as serve_metrics
from siyu.settings import Settings
from workers import features
from workers.alerts import AlertStore
from workers.broker import POSTGRES_QUEUE, is_postgres, make_broker
from workers.campaign_store import CampaignStore
from workers.daily_report import ReportStore
from workers.lent import lender
from workers.options import WorkerOptions
from workers.outbox import OutboxStore
from workers.process import WorkerProcess

log = logging.getLogger(__name__)


def options_for(settings: Settings, *, threads: int = 4, produce: bool = True
                ) -> WorkerOptions:
    """The options the environment sets (clock slot, chat-timeout limits, report hour,
    campaign rates); on the PostgreSQL broker every actor on one queue (its consumers
    hold a connection each)."""
    options = WorkerOptions(
        threads=threads, produce=produce, tick_minutes=settings.tick_minutes,
        campaign_rates=dict(settings.campaign_rates),
        chat_timeout=timedelta(minutes=settings.chat_timeout_minutes),
        chat_timeout_escalation=timedelta(minutes=settings.chat_escalation_minutes),
        report_hour=settings.report_hour,
        group_sync_interval=settings.group_sync_minutes * 60.0)
    if not is_postgres(settings.broker_url):
        return options
    return replace(options, queue_name=POSTGRES_QUEUE, clock_queue=POSTGRES_QUEUE,
                   campaign_queue=POSTGRES_QUEUE, sop_queue=POSTGRES_QUEUE,
                   alert_queue=POSTGRES_QUEUE, report_queue=POSTGRES_QUEUE)


def broker_pool(settings: Settings, options: WorkerOptions) -> int:
    """Connections of the PostgreSQL broker: one per consumed queue and per delay queue,
    one LISTEN and one to enqueue — 4 with every actor on one queue (:func:`options_for`)."""
    queues = {options.queue_name, options.clock_queue, options.campaign_queue,
              options.sop_queue, options.alert_queue, options.report_queue}
    return max(settings.pools["broker"], 2 * len(queues) + 2)


def build_worker(settings: Settings, *, threads: int = 4,
                 options: WorkerOptions | None = None,
                 gateway: OutboundGateway | None = None,
                 app: Siyu | None = None,
                 campaign_gateway: CampaignGateway | None = None,
                 campaigns: bool = True) -> WorkerProcess:
    """Wire a worker process from settings (nothing runs until ``start()``).

    ``gateway`` defaults to :func:`siyu.gateways.gateway_for` (``WECOM_API_BASE`` or the
    local fake's port; the fake itself is not started here). ``app`` defaults to a new
    application that the process closes on ``stop()``; a given one is left open. With
    ``campaigns`` (the default) it also sends campaigns and SOP steps, through
    ``campaign_gateway`` or :func:`siyu.gateways.campaign_gateway_for`.
    """
    if settings.database_url is None:
        raise ValueError("the worker needs settings.database_url (the CLI provides one)")
    options = options or options_for(settings, threads=threads)
    closers: list[Callable[[], None]] = []
    try:
        if app is None:
            app = build_application(settings.database_url, settings.secret,
                                    pool=settings.pools["worker"])
            closers.append(app.close)
        store = OutboxStore.connect(settings.database_url,
                                    max_size=settings.pools["worker_outbox"])
        closers.append(store.close)
        if gateway is None:
            client = gateways.gateway_for(settings)
            closers.append(client.close)
            gateway = client
        broker = make_broker(settings.broker_url, settings.database_url,
                             postgres_poll_interval=options.postgres_poll_interval,
                             postgres_pool=broker_pool(settings, options))
        campaign_store = None
        if campaign_gateway is None and campaigns:
            campaign_client = gateways.campaign_gateway_for(settings)
            closers.append(campaign_client.close)
            campaign_gateway = campaign_client
        if campaign_gateway is not None:
            campaign_store = CampaignStore.connect(settings.database_url,
                                                   max_size=settings.pools["worker_campaigns"])
            closers.append(campaign_store.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    # The WeCom client sends both; a gateway given for welcomes only needs a staff one.
    staff_gateway = cast(StaffMessageGateway, gateway)
    chat_timeout = int(options.chat_timeout.total_seconds())
    # The outbox projections' locks and LISTEN: one connection for the process.
    leases = Leases(settings.database_url, getattr(app.recorder, "channel_name", None))
    parts = [
        *([features.leases(leases)] if options.produce else []),  # consumers project nothing
        features.clock(app, broker, options),
        features.alerts(app, broker, AlertStore(store.pool), staff_gateway, options, leases),
        features.daily_reports(app, broker, ReportStore(store.pool,
                                                        chat_timeout_seconds=chat_timeout),
                               staff_gateway, options),
        features.auto_tags(app, lender(store.pool), options),
    ]
    if campaigns:  # the processes that talk to WeCom's marketing APIs
        contact_ways = gateways.contact_ways_for(settings)
        closers.append(contact_ways.close)
        parts.append(features.channel_codes(app, lender(store.pool), contact_ways, options))
        moment_client = gateways.moments_for(settings)
        closers.append(moment_client.close)
        parts.append(features.moments(app, lender(store.pool), moment_client, options))
        corp_tag_client = gateways.corp_tags_for(settings)
        closers.append(corp_tag_client.close)
        parts.append(features.corp_tags(app, gateways.corp_id_of(settings), corp_tag_client,
                                        options))
        group_chats = gateways.group_chats_for(settings)
        closers.append(group_chats.close)
        parts.append(features.group_directory(app, lender(store.pool), group_chats,
                                              group_chats.corp_id, options))
    if campaign_gateway is not None and campaign_store is not None:
        deps = features.campaign_deps(app, campaign_gateway, campaign_store, options)
        parts += [features.campaigns(app, broker, deps, options),
                  features.sops(broker, deps, options)]
    welcome = features.welcome(app, broker, gateway, store, options, leases)
    return WorkerProcess(app=app, broker=broker, welcome=welcome, features=parts,
                         options=options, closers=closers)


def worker_registry(settings: Settings, process: WorkerProcess) -> CollectorRegistry:
    """The worker's metrics: the database figures, the depth of every Dramatiq queue and
    the send outcomes by channel."""
    datastore = process.app.factory.datastore  # type: ignore[attr-defined]
    return registry_for(datastore.get_connection, pools={"events": datastore.pool},
                        queue_depths=queue_depths(process.broker, settings), sends=True)


def _wait_for_signal(process: WorkerProcess) -> None:
    stop = threading.Event()

    def handle(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.is_set() and not process.failed.is_set():
            stop.wait(0.5)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _consumer_process(settings: Settings, threads: int) -> None:
    """A further worker process: only consumes (the first one projects and dispatches)."""
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(settings.log_format))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    options = options_for(settings, threads=threads, produce=False)
    process = build_worker(settings, options=options).start()
    try:
        _wait_for_signal(process)
    finally:
        process.stop()


def run_worker(settings: Settings, *, processes: int = 1, threads: int = 4,
               serve_fake_gateway: bool | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM, then stop cleanly.

    ``serve_fake_gateway`` (default: when ``settings.wecom_api_base`` is unset) also serves
    the fake WeCom on ``settings.fake_gateway_port`` in this process; pass False when the
    caller runs the fake itself.
    """
    if serve_fake_gateway is None:
        serve_fake_gateway = settings.wecom_api_base is None
    fake = gateways.serve_fake_gateway(settings) if serve_fake_gateway else None
    if fake is not None:
        log.info("fake WeCom gateway on %s", fake.url)
    children: list[Any] = []
    try:
        process = build_worker(settings, threads=threads).start()
        stop_metrics = serve_metrics(worker_registry(settings, process), settings.metrics_host,
                                     settings.worker_metrics_port)
        try:
            context = multiprocessing.get_context("spawn")
            for n in range(1, processes):
                child = context.Process(target=_consumer_process, args=(settings, threads),
                                        name=f"siyu-worker-{n}")
                child.start()
                children.append(child)
            _wait_for_signal(process)
        finally:
            for child in children:
                child.terminate()  # SIGTERM: the child stops its process cleanly
            for child in children:
                child.join(60)
            stop_metrics()
            process.stop()
    finally:
        if fake is not None:
            fake.stop()
    if process.failure is not None:
        raise RuntimeError("the worker stopped on an error") from process.failure
