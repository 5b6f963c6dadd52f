"""Every bench still runs against the code it measures: each one, at a tiny size, prints its
figures and the ratio against its baseline (no timing is asserted: the benches measure, the
tests only keep them working)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
TINY = {
    "console_bench.py": ["--customers", "20", "--repeat", "1"],
    "cli_start_bench.py": ["--repeat", "1", "--commands", "2"],
    "client_bench.py": ["--companies", "50", "--agreements", "10", "--latency-ms", "0"],
    "cwsim_throughput.py": ["--lists", "5", "--writes", "10", "--concurrency", "2"],
    "ingest_bench.py": ["--rows", "2000"],
    "journal_bench.py": ["--creates", "40"],
    "plan_bench.py": ["--customers", "50"],
    "push_bench.py": ["--customers", "10", "--latency-ms", "0", "--rate-limit", "100000"],
    "ratelimit_bench.py": ["--runs", "60:18"],  # just past cwsim's burst: a few seconds rate limited
    "scale_bench.py": ["--sizes", "20,40"],
    "workers_bench.py": ["--tenants", "2", "--customers", "1", "--latency-ms", "0", "--workers", "1", "2"],
}


def test_every_bench_is_tried() -> None:
    assert {p.name for p in BENCH.glob("*.py") if p.name != "cwsim_process.py"} == set(TINY)


@pytest.mark.slow
@pytest.mark.parametrize("bench", sorted(TINY))
def test_the_bench_runs_and_prints_its_ratio(bench: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / bench), *TINY[bench]], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout.lower(), done.stdout
