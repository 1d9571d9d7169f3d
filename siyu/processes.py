"""Long-running parts, each runnable alone: the API server and the projection runners."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from application.app import Siyu
from projections import bluegreen
from projections.activities import ActivityView
from projections.campaigns import CampaignView
from projections.channel_codes.view import ChannelCodeView
from projections.chat_scripts import ChatScriptView
from projections.content import ContentView
from projections.coupons import CouponLedgerView
from projections.customer_as_of import CustomerAsOfView
from projections.customer_groups.view import CustomerGroupView
from projections.daily_report import DailyReportView
from projections.funnels import FunnelView
from projections.funnels.kept import LIMIT as FUNNEL_KEPT
from projections.groups import GROUPS, names_of
from projections.leases import Leases
from projections.marketing_tasks import MarketingTaskView
from projections.moments.view import MomentTaskView
from projections.organisation import CustomerOwnershipView, StaffAssignmentView
from projections.postgres_views import CustomerProfileView, StaffDirectoryView
from projections.private_domain import PrivateDomainView
from projections.products import ProductLibraryView
from projections.read_model_setup import create_read_models
from projections.referrals import ReferralProgressView
from projections.runner import BatchRunner, Tracker, View
from projections.shared_pages import SharedPageRunner
from projections.sops import SopView
from projections.staff_alerts import StaffAlertView
from projections.staff_performance import StaffPerformanceView
from projections.tag_groups import TagGroupView
from projections.targets import TargetView
from projections.wecom_tags import WeComTagView
from siyu.bootstrap import build_application
from siyu.garbage import settle_garbage_collector
from siyu.metrics import registry_for
from siyu.metrics import serve as serve_metrics
from siyu.parallel_rebuild import SMALL_LOG, rebuild_parts
from siyu.settings import Settings

log = logging.getLogger(__name__)


def read_model_views(funnel_kept: int = FUNNEL_KEPT) -> list[View]:
    """Read models rebuilt by ``siyu rebuild`` and run by ``siyu projections``; the
    funnel keeps the merge trees of ``funnel_kept`` customers between pages
    (``SIYU_FUNNEL_KEPT_CUSTOMERS``)."""
    return [CustomerProfileView(), StaffDirectoryView(), TagGroupView(), StaffAssignmentView(),
            CustomerOwnershipView(), CampaignView(), StaffPerformanceView(), StaffAlertView(),
            ChatScriptView(), DailyReportView(), TargetView(), ReferralProgressView(),
            CouponLedgerView(), SopView(), MarketingTaskView(), ActivityView(),
            ChannelCodeView(), CustomerAsOfView(), ProductLibraryView(),
            ContentView(), FunnelView(funnel_kept), MomentTaskView(), CustomerGroupView(),
            PrivateDomainView(), WeComTagView()]


def views_of(groups: Sequence[str], funnel_kept: int = FUNNEL_KEPT) -> list[View]:
    """The read models of ``groups`` (:mod:`projections.groups`; all when empty)."""
    wanted = names_of(list(groups))
    return [v for v in read_model_views(funnel_kept) if v.name in wanted]


def prepare_read_models(app: Siyu, *, build_new_versions: bool = True) -> Tracker:
    """Create every read model's tables, and build new versions beside the old ones —
    or, without ``build_new_versions`` (the API), leave a read model whose recorded
    version is not its code's as it is: it serves the old version until the projections
    process, which builds the new one blue/green, switches it in."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    views = read_model_views()
    if build_new_versions:
        bluegreen.upgrade(app, views, tracker.datastore)  # new versions built beside the old
    else:
        with tracker.datastore.get_connection() as conn:
            conn.autocommit = True
            pending = {v.name for v in bluegreen.pending_versions(conn, views)}
        for name in sorted(pending):
            log.info("read model %s: a new version is due; the live one serves until the "
                     "projections process has built and switched it in", name)
        views = [v for v in views if v.name not in pending]
    for view in views:
        view.bind(app)
    create_read_models(tracker, views, stamped=True)  # once per shape, in one transaction
    return tracker


def wait_for_signal(stop: threading.Event) -> None:
    """Block the main thread until SIGINT or SIGTERM (or ``stop`` is set)."""
    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


#: Seconds a projection runner's transaction may sit between statements while it folds.
PAGE_IDLE_SECONDS = 120


def run_projections(settings: Settings, groups: Sequence[str] = ()) -> None:
    """Keep the read models of ``groups`` (all when empty) up to date until SIGINT/SIGTERM,
    one thread per group, each group fed from one shared read of the log; stop if one
    fails."""
    assert settings.database_url is not None
    # A page's fold is Python between two statements of its transaction: on a loaded
    # machine a customer-profile page took over the event store's 5 s, the server ended
    # the transaction, and the runner failed the same page again for as long as the load
    # lasted. The runners' transactions are bounded by their pages, not by a client.
    app = build_application(settings.database_url, settings.secret,
                            pool=settings.pools["projections"],
                            idle_in_transaction=PAGE_IDLE_SECONDS)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    kept = settings.funnel_kept_customers
    bluegreen.upgrade(app, views_of(groups, kept), tracker.datastore)
    # One connection holds the locks of the groups this process leads (and LISTENs);
    # runners take a pooled connection per page: a standby holds that one connection.
    leases = Leases(settings.database_url, getattr(app.recorder, "channel_name", None))
    runners = [SharedPageRunner(app, views_of([group], kept), tracker,
                                lease=leases.lease(group, names=tuple(GROUPS[group])))
               for group in (groups or list(GROUPS))]
    leases.start()
    stop = threading.Event()
    failures: list[BaseException] = []

    def run(runner: SharedPageRunner) -> None:
        try:
            runner.run_forever()
        except BaseException as error:
            failures.append(error)
            stop.set()

    threads = [threading.Thread(target=run, args=(r,), name=f"projection-{r.names[0]}")
               for r in runners]
    for thread in threads:
        thread.start()
    settle_garbage_collector()  # after start-up: the views, mappers and pools are built
    log.info("projections running: %s", ", ".join(n for r in runners for n in r.names))
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    registry = registry_for(datastore.get_connection, pools={"events": datastore.pool})
    stop_metrics = serve_metrics(registry, settings.metrics_host,
                                 settings.projections_metrics_port)
    try:
        wait_for_signal(stop)
    finally:
        stop_metrics()
        for runner in runners:
            runner.stop()
        for thread in threads:
            thread.join(30)
        leases.stop()
        app.close()
    if failures:
        raise RuntimeError("a projection stopped on an error") from failures[0]


def retry_quarantined(settings: Settings) -> dict[str, tuple[int, int]]:
    """After a fix: rebuild every read model holding quarantined events; per read model,
    (events resolved, events still quarantined)."""
    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    outcome: dict[str, tuple[int, int]] = {}
    try:
        for view in read_model_views(settings.funnel_kept_customers):
            resolved, remaining = BatchRunner(app, view, tracker).retry_quarantined()
            if resolved or remaining:
                outcome[view.name] = (resolved, remaining)
    finally:
        app.close()
    return outcome


def catch_up(app: Siyu) -> None:
    """Every read model up to the log's head, each group from one shared read of it."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for group in GROUPS:
        SharedPageRunner(app, views_of([group]), tracker).catch_up()


def rebuild(settings: Settings, names: list[str],
            report: bluegreen.Report | None = None) -> dict[str, int]:
    """Rebuild the named read models (all when empty) blue/green, while the app runs: all
    folded beside the live ones, a process per part of the default split and one pass over
    the log in each (all in this process on a log of at most :data:`SMALL_LOG`
    notifications), then switched in (:mod:`siyu.parallel_rebuild`); rows per table
    after."""
    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret)
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    Tracker(datastore)
    everything_of = partial(read_model_views, settings.funnel_kept_customers)  # picklable
    everything = everything_of()
    views = {v.name: v for v in everything}
    unknown = [n for n in names if n not in views]
    if unknown:
        app.close()
        raise ValueError(f"unknown read model(s) {unknown}; known: {sorted(views)}")
    wanted = names or list(views)
    counts: dict[str, int] = {}
    try:
        for name in wanted:
            BatchRunner(app, views[name], Tracker(datastore))  # creates, migrates
        head = app.recorder.max_notification_id() or 0
        rebuild_parts(settings.database_url, settings.secret, wanted, everything_of,
                      report or (lambda p: log.info("rebuild %s", p.line())),
                      split=head > SMALL_LOG)
        with datastore.transaction() as curs:
            for name in wanted:
                curs.execute(f"SELECT count(*) AS n FROM {name}")
                row = curs.fetchone()
                counts[name] = int(row["n"]) if row else 0
    finally:
        app.close()
    return counts
