"""Pool sizes from ``SIYU_POOLS``, and what the worker's wiring makes of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu.settings import DEFAULT_POOLS, SettingsError, from_env
from siyu.worker_process import broker_pool, options_for


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"SIYU_DATA_DIR": str(tmp_path), "SIYU_SECRET": "s" * 32, **values}


def test_pools_default_to_a_main_job_of_at_most_25_connections(tmp_path: Path) -> None:
    pools = from_env(env(tmp_path)).pools
    assert dict(pools) == dict(DEFAULT_POOLS)
    # api + reads + LISTEN, projections + leases, worker pools + broker + leases
    held = (pools["api"] + pools["api_reads"] + 1 + pools["projections"] + 1
            + pools["worker"] + pools["worker_outbox"] + pools["worker_campaigns"]
            + pools["broker"] + 1)
    assert held <= 22  # room for the short-lived ones under 25


def test_a_pool_named_in_the_environment_is_resized_and_the_others_kept(
        tmp_path: Path) -> None:
    pools = from_env(env(tmp_path, SIYU_POOLS=" api=10, api_reads = 8 ")).pools
    assert (pools["api"], pools["api_reads"], pools["projections"]) == (
        10, 8, DEFAULT_POOLS["projections"])


@pytest.mark.parametrize("value", ["apii=3", "api=0", "api=many", "broker=3", "api"])
def test_a_malformed_pool_size_is_refused_naming_the_variable(tmp_path: Path,
                                                             value: str) -> None:
    with pytest.raises(SettingsError, match="SIYU_POOLS"):
        from_env(env(tmp_path, SIYU_POOLS=value))


def test_on_the_postgresql_broker_every_actor_shares_one_queue_and_four_connections(
        tmp_path: Path) -> None:
    settings = from_env(env(tmp_path))
    options = options_for(settings)
    queues = {options.queue_name, options.clock_queue, options.campaign_queue,
              options.sop_queue, options.alert_queue, options.report_queue}
    assert queues == {"siyu"}
    assert broker_pool(settings, options) == 4


def test_on_rabbitmq_each_feature_keeps_its_queue(tmp_path: Path) -> None:
    options = options_for(from_env(env(tmp_path, BROKER_URL="amqp://guest@127.0.0.1/")))
    assert len({options.queue_name, options.clock_queue, options.campaign_queue,
                options.sop_queue, options.alert_queue, options.report_queue}) == 6
