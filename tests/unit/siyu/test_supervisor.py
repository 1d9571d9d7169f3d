"""The main job restarts a part that exits; only a part failing again and again stops it."""

from __future__ import annotations

import subprocess
from typing import cast

from siyu.supervisor import Policy, Supervisor


class FakeProcess:
    def __init__(self, part: str) -> None:
        self.part = part
        self.returncode: int | None = None
        self.terminated = False

    def poll(self) -> int | None:
        return self.returncode

    def exit(self, code: int) -> None:
        self.returncode = code

    def terminate(self) -> None:
        self.terminated = True
        self.returncode = -15

    def wait(self, timeout: float | None = None) -> int:
        assert self.returncode is not None
        return self.returncode


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.started: list[FakeProcess] = []

    def spawn(self, part: str) -> subprocess.Popen[bytes]:
        process = FakeProcess(part)
        self.started.append(process)
        return cast(subprocess.Popen[bytes], process)

    def running(self, part: str) -> FakeProcess:
        return [p for p in self.started if p.part == part][-1]

    def clock(self) -> float:
        return self.now


def supervised(world: World) -> Supervisor:
    return Supervisor(world.spawn, ("projections", "worker", "serve"),
                      Policy(first_backoff=1, max_backoff=8, max_failures=4, window=60,
                             healthy_after=30), clock=world.clock)


def test_a_part_that_exits_is_started_again_after_a_growing_backoff_the_others_untouched() -> None:
    world = World()
    supervisor = supervised(world)
    # When the worker exits (a database restart, say)
    world.running("worker").exit(1)
    supervisor.check()
    # Then it is not started at once, but after one second, and nothing else is touched
    assert len(world.started) == 3
    world.now = 1.0
    supervisor.check()
    assert len(world.started) == 4 and world.running("worker").returncode is None
    assert not world.running("serve").terminated and supervisor.gave_up is None
    # And a second exit in a row waits twice as long
    world.running("worker").exit(1)
    supervisor.check()
    world.now = 2.5
    supervisor.check()
    assert len(world.started) == 4
    world.now = 3.0
    supervisor.check()
    assert len(world.started) == 5


def test_a_part_that_ran_well_before_it_exited_starts_its_backoff_afresh() -> None:
    world = World()
    supervisor = supervised(world)
    for at in (0.0, 1.0):  # two quick failures: backoff now 2 s
        world.now = at
        world.running("serve").exit(1)
        supervisor.check()
        world.now = at + 2.0
        supervisor.check()
    world.now = 100.0  # it then ran for a long while
    world.running("serve").exit(1)
    supervisor.check()
    world.now = 101.0
    supervisor.check()
    assert world.running("serve").returncode is None  # restarted after 1 s again


def test_only_repeated_failure_stops_the_tree_with_a_message_naming_the_part() -> None:
    world = World()
    supervisor = supervised(world)
    for _ in range(3):
        world.running("projections").exit(2)
        supervisor.check()
        world.now += 10
        supervisor.check()
    assert supervisor.gave_up is None
    world.running("projections").exit(2)
    supervisor.check()
    assert supervisor.gave_up is not None and supervisor.stopping.is_set()
    assert "projections exited 4 times" in supervisor.gave_up and "code 2" in supervisor.gave_up
    supervisor.stop()
    assert world.running("serve").terminated and world.running("worker").terminated


def test_exits_after_a_stop_was_asked_are_not_failures() -> None:
    world = World()
    supervisor = supervised(world)
    supervisor.stopping.set()  # Ctrl-C: the children get SIGINT too
    for process in list(world.started):
        process.exit(-2)
    world.now = 10
    supervisor.check()
    assert len(world.started) == 3 and supervisor.gave_up is None
