"""Run every benchmark: ``python -m bench`` (full) or ``python -m bench --quick`` (make bench)."""

from __future__ import annotations

import argparse
import json
import time

from bench import delivery, instances, intake, intake_telegram, poll, scale
from bench.common import machine
from bench.pg import PgUnavailable

QUICK = {
    "poll": ["--jobs", "400", "--scale", "40", "--arrivals", "600", "--out", "quick-poll"],
    "scale": ["--jobs", "2000", "--out", "quick-scale"],
    "intake": ["--jobs", "300", "--out", "quick-intake"],
    "intake_telegram": [
        "--jobs",
        "60",
        "--paced-jobs",
        "25",
        "--rate",
        "5",
        "--out",
        "quick-intake-telegram",
    ],
    "delivery": ["--sizes", "10,500", "--out", "quick-delivery"],
    "instances": [
        *("--jobs", "100", "--paced-jobs", "20", "--rate", "10", "--render", "60"),
        *("--kills", "1", "--out", "quick-instances"),
    ],
}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the reduced set (a few minutes)")
    args = p.parse_args()
    print(json.dumps(machine()), flush=True)
    started = time.perf_counter()
    goals = {}
    for name, module in (
        ("poll", poll),
        ("scale", scale),
        ("intake", intake),
        ("intake_telegram", intake_telegram),
        ("delivery", delivery),
        ("instances", instances),
    ):
        try:
            result = module.main(QUICK[name] if args.quick else [])
        except PgUnavailable as exc:  # only the instances benchmark needs PostgreSQL
            print(f"{name}: skipped, no PostgreSQL server: {exc}", flush=True)
            continue
        if result:
            goals[name] = result.get("goals", {})
    print(f"all benchmarks: {time.perf_counter() - started:.0f} s")
    print(json.dumps(goals, indent=2))


if __name__ == "__main__":
    main()
