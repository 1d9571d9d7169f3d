"""Long-running parts, each runnable alone: the API server and the projection runners."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from application.app import Siyu
from projections.activities import ActivityView
from projections.campaigns import CampaignView
from projections.channel_codes.view import ChannelCodeView
from projections.chat_scripts import ChatScriptView
from projections.coupons import CouponLedgerView
from projections.customer_as_of import CustomerAsOfView
from projections.daily_report import DailyReportView
from projections.leases import Leases
from projections.marketing_tasks import MarketingTaskView
from projections.organisation import CustomerOwnershipView, StaffAssignmentView
from projections.postgres_views import CustomerProfileView, StaffDirectoryView
from projections.referrals import ReferralProgressView
from projections.runner import BatchRunner, Tracker, View
from projections.sops import SopView
from projections.staff_alerts import StaffAlertView
from projections.staff_performance import StaffPerformanceView
from projections.tag_groups import TagGroupView
from projections.targets import TargetView
from siyu.bootstrap import build_application
from siyu.metrics import registry_for
from siyu.metrics import serve as serve_metrics
from siyu.settings import Settings

log = logging.getLogger(__name__)


def read_model_views() -> list[View]:
    """Read models rebuilt by ``siyu rebuild`` and run by ``siyu projections``."""
    return [CustomerProfileView(), StaffDirectoryView(), TagGroupView(), StaffAssignmentView(),
            CustomerOwnershipView(), CampaignView(), StaffPerformanceView(), StaffAlertView(),
            ChatScriptView(), DailyReportView(), TargetView(), ReferralProgressView(),
            CouponLedgerView(), SopView(), MarketingTaskView(), ActivityView(),
            ChannelCodeView(), CustomerAsOfView()]


def prepare_read_models(app: Siyu) -> Tracker:
    """Create (or migrate to the current version) every read model's tables."""
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in read_model_views():
        BatchRunner(app, view, tracker)  # its constructor migrates and creates
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


def run_projections(settings: Settings) -> None:
    """Keep every read model up to date until SIGINT/SIGTERM; stop if one fails."""
    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret,
                            pool=settings.pools["projections"])
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    # One connection holds the locks of the read models this process leads (and LISTENs);
    # runners take a pooled connection per page: a standby holds that one connection.
    leases = Leases(settings.database_url, getattr(app.recorder, "channel_name", None))
    runners = [BatchRunner(app, view, tracker, lease=leases.lease(view.name))
               for view in read_model_views()]
    leases.start()
    stop = threading.Event()
    failures: list[BaseException] = []

    def run(runner: BatchRunner) -> None:
        try:
            runner.run_forever()
        except BaseException as error:
            failures.append(error)
            stop.set()

    threads = [threading.Thread(target=run, args=(r,), name=f"projection-{r.view.name}")
               for r in runners]
    for thread in threads:
        thread.start()
    log.info("projections running: %s", ", ".join(r.view.name for r in runners))
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
        for view in read_model_views():
            resolved, remaining = BatchRunner(app, view, tracker).retry_quarantined()
            if resolved or remaining:
                outcome[view.name] = (resolved, remaining)
    finally:
        app.close()
    return outcome


def catch_up(app: Siyu) -> None:
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in read_model_views():
        BatchRunner(app, view, tracker).catch_up()


def rebuild(settings: Settings, names: list[str]) -> dict[str, int]:
    """Drop and rebuild the named read models (all when empty); rows per table after."""
    assert settings.database_url is not None
    app = build_application(settings.database_url, settings.secret)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    views = {v.name: v for v in read_model_views()}
    unknown = [n for n in names if n not in views]
    if unknown:
        raise ValueError(f"unknown read model(s) {unknown}; known: {sorted(views)}")
    counts: dict[str, int] = {}
    try:
        for name in names or list(views):
            BatchRunner(app, views[name], tracker).rebuild()
            with app.factory.datastore.transaction() as curs:  # type: ignore[attr-defined]
                curs.execute(f"SELECT count(*) AS n FROM {name}")
                row = curs.fetchone()
                counts[name] = int(row["n"]) if row else 0
    finally:
        app.close()
    return counts
