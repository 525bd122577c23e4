"""`onshi bench`: what a run reports, and how it judges the aims of a lean hot path.

The figures themselves depend on the machine and are never asserted here (benchmarks/README.md);
what is specified is that a short run against real server processes works end to end, measures every
backend and check with the ceiling beside it, makes no failed request, and says which aims it met.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cli import _targets
from onshi.procs import ROOT
from tests.conftest import BACKENDS, PG_URL, _drop_schema


def _row(backend: str, kind: str, requests_per_s: float, share: float | None, errors: int = 0
         ) -> dict[str, Any]:
    return {"backend": backend, "persons": 10_000, "kind": kind, "requests_per_s": requests_per_s,
            "share_of_ceiling": share, "errors": errors, "low_clients": {"errors": 0}}


def test_each_aim_is_judged_on_the_runs_figures() -> None:
    aims = _targets([
        _row("sqlite", "card", 2_500, 0.24), _row("sqlite", "number", 7_000, 0.34),
        _row("postgres", "card", 2_600, 0.25), _row("postgres", "number", 3_500, 0.17),
    ])
    judged = {aim["what"]: (aim["value"], aim["met"]) for aim in aims}
    assert judged == {
        "sqlite card share of ceiling": (0.24, False),
        "sqlite number share of ceiling": (0.34, True),
        "postgres / sqlite card req/s": (1.04, True),
        "postgres / sqlite number req/s": (0.5, False),
        "errors": (0, True),
    }


def test_a_failed_request_misses_the_no_error_aim() -> None:
    aims = _targets([_row("sqlite", "number", 7_000, 0.34, errors=2)])
    assert aims[-1] == {"what": "errors", "persons": None, "value": 2, "target": 0, "met": False}


@pytest.mark.slow
def test_a_short_run_measures_every_backend_and_check_in_rounds_with_the_ceiling(tmp_path: Path) -> None:
    schema = f"onshi_test_bench_{uuid.uuid4().hex[:8]}"
    out = tmp_path / "bench.json"
    backend = "both" if PG_URL else "sqlite"
    command = [sys.executable, "-m", "onshi", "bench", "--backend", backend, "--persons", "300",
               "--cards", "30", "--duration", "2", "--rounds", "2", "--clients", "4", "--low-clients", "2",
               "--no-face", "--pg-schema", schema, "--json", str(out)]
    if PG_URL:
        command += ["--pg-url", PG_URL]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    finally:
        if PG_URL:
            _drop_schema(schema)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))

    measured = [(r["backend"], r["kind"]) for r in report["runs"]]
    assert measured == [(b, k) for b in BACKENDS for k in ("card", "number")]
    for run in report["runs"]:
        assert run["errors"] == 0 and run["low_clients"]["errors"] == 0, run["error_samples"]
        assert run["checks"] > 0 and run["share_of_ceiling"] > 0 and run["rounds"] == 2
    assert len(report["ceiling"]["measurements"]) == 2  # one per check kind, in the backends' rounds
    assert [a["what"] for a in report["targets"]][:2] == ["sqlite card share of ceiling",
                                                          "sqlite number share of ceiling"]
    assert "targets:" in done.stdout
