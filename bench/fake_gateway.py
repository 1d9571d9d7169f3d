"""``python -m bench.fake_gateway PORT PREFIX COUNT [LOSE_EVERY]``: the fake WeCom in its own
process.

The fake (:mod:`fakes.wecom`, with its campaign APIs, as faithful as in the tests: no dedupe,
no auto-confirm) listens on ``PORT`` with long-term subscriptions to :data:`TEMPLATE` for the
openids ``{PREFIX}{n:06d}``, ``n < COUNT``, and no rate limit; with ``LOSE_EVERY`` *n*, every
*n*-th task created by ``add_msg_template`` loses its reply (created, then HTTP 502). It prints
``ready`` once listening and runs until SIGTERM. A process of its own, so the gateway does
not share a GIL with the workers.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any

from fakes.campaign_records import Answer
from fakes.campaigns import FakeCampaigns
from fakes.wecom import FakeWeCom, run_fake_wecom

TEMPLATE = "tpl-bench"


def openid(prefix: str, n: int) -> str:
    return f"{prefix}{n:06d}"


@dataclass
class LossyCampaigns(FakeCampaigns):
    """Loses the reply of every ``lose_every``-th task created (after creating it)."""

    lose_every: int = 0
    created: int = 0
    lost: int = 0

    def add_msg_template(self, token_error: dict[str, Any] | None, body: Any) -> Answer:
        answer = super().add_msg_template(token_error, body)
        if self.lose_every and answer[0] == 200 and answer[1].get("errcode") == 0:
            with self._lock:
                self.created += 1
                if self.created % self.lose_every == 0:
                    self.lost += 1
                    return 502, {"error": "bad gateway"}, {}
        return answer


def main(argv: list[str]) -> int:
    port, prefix, count = int(argv[0]), argv[1], int(argv[2])
    campaigns = LossyCampaigns(max_receipts=max(200_000, 2 * count),
                               max_tasks=max(10_000, count),
                               lose_every=int(argv[3]) if len(argv) > 3 else 0)
    for n in range(count):
        campaigns.grant_subscription(openid(prefix, n), TEMPLATE, -1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with run_fake_wecom(port, state=FakeWeCom(campaigns=campaigns)):
        print("ready", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
