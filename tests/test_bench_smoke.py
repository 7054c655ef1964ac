"""The benchmarks still run: each one, tiny and fast (the real runs are in BENCHMARKS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import delivery, instances, intake, intake_telegram, poll, scale
from bench.pg import PgUnavailable, binaries
from tests.pg import _unavailable


@pytest.fixture(autouse=True)
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path))
    return tmp_path


def test_poll_benchmark_compares_strategies(results: Path) -> None:
    sizes = ["--jobs", "12", "--scale", "600", "--arrivals", "300", "--history", "32"]
    report = poll.main([*sizes, "--strategies", "fixed,adaptive,callbacks"])
    by = {r["strategy"]: r for r in report["results"]}
    assert all(r["delivered"] == 12 for r in by.values())
    assert by["callbacks"]["queries_per_job"] < by["fixed"]["queries_per_job"]
    assert json.loads((results / "poll.json").read_text())["machine"]["nproc"] >= 1


def test_scale_intake_and_delivery_benchmarks_run() -> None:
    assert scale.main(["--jobs", "40"])["cycle_checked"] >= 40
    assert intake.main(["--jobs", "10", "--concurrency", "4", "--rate", "5"])["latency"]["jobs"]
    runs = delivery.main(["--sizes", "1,3"])
    assert runs is not None and [r["delivered_bytes"] for r in runs["runs"]] == [2**20, 3 * 2**20]


def test_intake_through_telegram_runs(results: Path) -> None:
    report = intake_telegram.main(["--jobs", "6", "--paced-jobs", "4", "--rate", "20"])
    for name in ("burst", "burst_no_flood_limit", "paced"):
        run = report[name]
        assert run["tasks_created"] == run["jobs"]
        assert run["telegram_calls"]["getFile"] == run["jobs"]
        assert 0 < run["status_p50_ms"] <= run["to_task_p99_ms"]
    assert report["baseline_burst"]["tasks_created"] == 6
    assert (results / "intake-telegram.json").exists()


def test_instances_on_postgresql_runs(results: Path) -> None:
    if binaries() is None:
        _unavailable("no initdb under /usr/lib/postgresql/*/bin or on PATH")
    sizes = ["--jobs", "8", "--paced-jobs", "4", "--rate", "20", "--counts", "sqlite,2"]
    sizes += ["--scale", "40", "--render", "60"]
    try:
        report = instances.main([*sizes, "--concurrency", "2", "--kills", "1"])
    except PgUnavailable as exc:
        _unavailable(str(exc))
    runs = [(r["store"], r["instances"]) for r in report["results"]]
    assert runs == [("sqlite", 1), ("postgresql", 2)]
    for result in report["results"]:
        for phase, jobs in (("paced", 4), ("burst", 8)):
            run = result[phase]
            assert run["delivered"] == jobs
            assert sum(run["delivered_per_instance"]) == jobs
            assert run["jobs_per_s"] > 0
            assert run["tasks"] == jobs
            assert run["queries_per_job"] >= 1
    takeover = report["takeover"]
    assert takeover["jobs_taken_over"] >= 1
    assert takeover["kill_to_claim_s"]["n"] == takeover["jobs_taken_over"]
    assert takeover["kill_to_delivered_s"]["p50"] is not None
    assert (results / "instances.json").exists()
