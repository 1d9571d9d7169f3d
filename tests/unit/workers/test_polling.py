"""Every worker loop outlives a database or broker outage: it backs off and goes on."""

from __future__ import annotations

import itertools
import threading
import time

import psycopg
import pytest
from dramatiq.errors import BrokerConnectionError

from workers import polling
from workers.clock import ClockScheduler


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(polling, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(polling, "BACKOFF_MAX", 0.04)


def run_in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def test_a_loop_keeps_running_through_connection_losses_and_bugs() -> None:
    # Given a pass that loses the database, then the broker, then hits a bug, then works
    broker_away = BrokerConnectionError("broker away")  # type: ignore[no-untyped-call]
    failures = [psycopg.OperationalError("server closed the connection"), broker_away,
                RuntimeError("a bug")]
    done = threading.Event()
    stopping = threading.Event()
    calls: list[float] = []

    def step() -> bool:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        done.set()
        return False

    # When the loop runs
    thread = run_in_thread(lambda: polling.keep_running("test loop", step, stopping, 0.01))
    # Then it passes every failure and comes to the working pass, still running
    assert done.wait(5)
    assert thread.is_alive()
    stopping.set()
    thread.join(5)
    assert not thread.is_alive()
    # And it paused longer after each failure in a row
    pauses = [b - a for a, b in itertools.pairwise(calls)][:3]
    assert pauses[0] >= 0.01 and pauses[1] >= 0.02


def test_a_read_model_not_created_yet_is_waited_for_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a pass whose read model the projections process has not created yet
    missing = [psycopg.errors.UndefinedTable('relation "campaign" does not exist')]
    done, stopping = threading.Event(), threading.Event()

    def step() -> bool:
        if missing:
            raise missing.pop()
        done.set()
        return False

    # When the loop runs
    with caplog.at_level("INFO", logger="workers.polling"):
        thread = run_in_thread(lambda: polling.keep_running("a dispatcher", step, stopping,
                                                            0.01))
        assert done.wait(5)
        stopping.set()
        thread.join(5)
    # Then it waited and went on, saying so in one line: no error, no traceback
    records = [r for r in caplog.records if r.name == "workers.polling"]
    assert [r.levelname for r in records] == ["INFO"], records
    assert "waits for its read models" in records[0].getMessage()
    assert records[0].exc_info is None


def test_the_clock_scheduler_survives_a_broker_that_refuses_to_enqueue() -> None:
    # Given a broker that is away for the first two enqueues
    sent: list[str] = []
    refusals = [2]

    def enqueue(tick: str) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise BrokerConnectionError("connection refused")  # type: ignore[no-untyped-call]
        sent.append(tick)

    scheduler = ClockScheduler(enqueue, 60, poll_interval=0.01)
    # When it runs
    thread = run_in_thread(scheduler.run_forever)
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    thread.join(5)
    # Then the slot's tick is enqueued once the broker is back, and the loop ran on
    assert len(sent) == 1
