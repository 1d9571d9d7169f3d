"""``python -m bench [--quick] [NAME…]``: run benchmarks, print one JSON line per measure."""

from __future__ import annotations

import argparse
import sys

from bench import (
    activities,
    audit,
    campaigns,
    content,
    funnels,
    leaderboard,
    mass_send_reconcile,
    oneid,
    operations,
    private_domain,
    products,
    projection_ops,
    projections,
    read_models,
    referrals,
    segments,
    spine,
    staff,
    wecom,
)

BENCHMARKS = {**spine.BENCHMARKS, **oneid.BENCHMARKS, **wecom.BENCHMARKS,
              **segments.BENCHMARKS, **campaigns.BENCHMARKS, **staff.BENCHMARKS,
              **leaderboard.BENCHMARKS, **referrals.BENCHMARKS, **activities.BENCHMARKS,
              **mass_send_reconcile.BENCHMARKS, **audit.BENCHMARKS,
              **products.BENCHMARKS, **content.BENCHMARKS, **funnels.BENCHMARKS,
              **projections.BENCHMARKS, **read_models.BENCHMARKS,
              **projection_ops.BENCHMARKS,
              **private_domain.BENCHMARKS,
              **operations.BENCHMARKS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (< 5 minutes)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in args.names or list(BENCHMARKS):
        for result in BENCHMARKS[name](args.quick):
            print(result.line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
