"""``python -m bench.fake_gateway PORT PREFIX COUNT``: the fake WeCom in its own process.

The fake (:mod:`fakes.wecom`, with its campaign APIs) listens on ``PORT`` with
long-term subscriptions to :data:`TEMPLATE` for the openids ``{PREFIX}{n:06d}``,
``n < COUNT``, and no rate limit; it prints ``ready`` once listening and runs until
SIGTERM. A process of its own, so the gateway does not share a GIL with the workers.
"""

from __future__ import annotations

import signal
import sys
import threading

from fakes.campaigns import FakeCampaigns
from fakes.wecom import FakeWeCom, run_fake_wecom

TEMPLATE = "tpl-bench"


def openid(prefix: str, n: int) -> str:
    return f"{prefix}{n:06d}"


def main(argv: list[str]) -> int:
    port, prefix, count = int(argv[0]), argv[1], int(argv[2])
    campaigns = FakeCampaigns(max_receipts=max(200_000, 2 * count),
                              max_dedupe=max(100_000, 2 * count))
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
