"""Campaign benchmarks: planning a launch (audience, caps, quota, quiet hours, intents), and
sending it (:mod:`bench.campaign_dispatch`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from application.campaign_launch import launch
from bench import campaign_dispatch
from bench.common import SECRET, Measure, fresh_database, measure
from bench.segments import GENERATE
from projections.campaigns import CampaignView
from projections.postgres_views import CustomerProfileView
from projections.runner import BatchRunner, Tracker
from siyu.bootstrap import build_application
from siyu.processes import read_model_views

PRIOR = """
INSERT INTO campaign (campaign_id, name, owner, channel, segment_id, state, variants,
    holdout_percent, cost_fen, attribution_days, harm_days, drafted_by, drafted_at, last_version)
VALUES ('00000000-0000-4000-8000-0000000000b0', 'earlier', 'bench', 'wecom_mass',
        '00000000-0000-4000-8000-0000000000b1', 'running', '[]', 0, 0, 7, 7, 'bench', now(), 1);
INSERT INTO campaign_send (campaign_id, customer_id, step, variant_id, send_at, status)
SELECT '00000000-0000-4000-8000-0000000000b0', customer_id, 0, 'a',
       now() - (random() * interval '20 days'), 'sent'
FROM customer_profile WHERE random() < 0.25;
"""


def campaign_plan(quick: bool) -> list[Measure]:
    """Recipients/s of a launch over N customers: plan (every restraint rule) + intents
    recorded + projected, with a quarter of the audience already messaged recently."""
    customers = 20_000 if quick else 100_000
    url = fresh_database()
    app = build_application(url, SECRET)
    tracker = Tracker(app.factory.datastore)  # type: ignore[attr-defined]
    for view in read_model_views():
        BatchRunner(app, view, tracker)  # creates the tables
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute(GENERATE, {"n": customers, "tags": ["VIP", "高意向", "宝妈"]})
        conn.execute(PRIOR)
        conn.execute("ANALYZE")
    now = datetime.now(UTC).replace(hour=4, minute=0)  # noon in Shanghai: no quiet hours
    segment_id, _ = app.segments.define("everyone", "", {"not": {"tagIn": ["__nobody__"]}},
                                       "staff:bench", now)
    profile = BatchRunner(app, CustomerProfileView(), tracker)
    profile.catch_up()
    campaigns = BatchRunner(app, CampaignView(), tracker, poll_interval=0.05)
    campaigns.catch_up()
    thread = threading.Thread(target=campaigns.run_forever, daemon=True)
    thread.start()
    variants: list[dict[str, Any]] = [{"variant_id": "new", "lifecycles": ["NEW"], "text": "欢迎"},
                {"variant_id": "all", "text": "双十二 {points_balance} 积分"}]
    try:
        campaign_id, _ = app.campaigns.draft("bench", "staff:bench", "wecom_mass", segment_id,
                                            variants, "staff:bench", now, holdout_percent=10)
        start = time.perf_counter()
        _, result = launch(app, tracker, campaign_id, "staff:bench", now, wait_seconds=300)
        seconds = time.perf_counter() - start
    finally:
        campaigns.stop()
        thread.join(10)
        app.close()
    planned = len(result.decisions)
    assert planned == customers, planned
    return [measure("campaign_plan", planned / seconds, "recipients/s"),
            measure("campaign_plan_included", len(result.included), "recipients")]


BENCHMARKS: dict[str, Callable[[bool], list[Measure]]] = {
    "campaign_plan": campaign_plan,
    "campaign_dispatch": campaign_dispatch.campaign_dispatch,
    "campaign_dispatch_sms": campaign_dispatch.campaign_dispatch_sms,
    "campaign_dispatch_wecom_mass": campaign_dispatch.campaign_dispatch_wecom_mass,
    "campaign_rate_accuracy": campaign_dispatch.campaign_rate_accuracy,
}

