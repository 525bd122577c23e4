"""`onshi bench`: card checks and number checks per second against real server processes.

Per backend and population size: a fresh database (SQLite file under var/bench, or a fresh
PostgreSQL schema), the fixture personas plus a generated population, `onshi serve --workers N`
in its own processes, then N concurrent clients in a separate load process for a bounded time.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import click
import httpx

from onshi import defaults
from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "onshi_bench"
ADMIN_TOKEN = "bench-admin-token"
CLINIC_CODE = defaults.CLINIC_CODE
CLINIC_TOKEN = defaults.CLINIC_TOKEN
BENCH_DIR = ROOT / "var" / "bench"
SAMPLE_CARDS = 200
CONTENTION = ("The load generator runs in its own process but on the same 2 cores as the server: "
              "figures are for server + client together, a lower bound for the server alone.")


def _sizes(values: tuple[str, ...]) -> list[int]:
    sizes: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip().replace("_", "").lower()
            if not part:
                continue
            factor = 1
            if part.endswith("k"):
                factor, part = 1_000, part[:-1]
            elif part.endswith("m"):
                factor, part = 1_000_000, part[:-1]
            try:
                sizes.append(int(part) * factor)
            except ValueError:
                raise click.BadParameter(f"not a number of persons: {value!r}") from None
    return sizes or [10_000]


def _prepare_database(backend: str, pg_url: str, persons: int, cards: int
                      ) -> tuple[dict[str, str], dict[str, Any]]:
    """A fresh database with the personas and the population; the server's environment."""
    from sqlalchemy import text

    from server.fixtures import load_fixture, read_fixture
    from server.population import generate_population
    from server.storage.database import create_tables, make_engine

    if backend == "sqlite":
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"bench-{persons}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        env = {"ONSHI_DATABASE_URL": f"sqlite:///{path}"}
        engine = make_engine(env["ONSHI_DATABASE_URL"])
    else:
        env = {"ONSHI_DATABASE_URL": pg_url, "ONSHI_DATABASE_SCHEMA": PG_SCHEMA}
        engine = make_engine(pg_url, schema=PG_SCHEMA)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    create_tables(engine)
    load_fixture(engine, read_fixture("personas"))
    started = time.perf_counter()
    report = generate_population(engine, persons, seed=1, cards=cards,
                                 progress=lambda line: click.echo(f"    {line}", err=True))
    if backend == "postgres":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    report["generate_s"] = round(time.perf_counter() - started, 1)
    engine.dispose()
    return env, report


def _number_body(numbers: dict[str, str], day: str) -> bytes:
    message = {
        "MessageHeader": {"QualificationConfirmationDate": day, "MedicalInstitutionCode": CLINIC_CODE,
                          "ReferenceClassification": "1", "CharacterCodeIdentifier": "0"},
        "MessageBody": {"QualificationConfirmSearchInfo": {
            "InsurerNumber": numbers["insurer"], "InsuredCardSymbol": numbers["symbol"] or None,
            "InsuredIdentificationNumber": numbers["number"], "InsuredBranchNumber": numbers["branch"],
            "Birthdate": numbers["birthdate"].replace("-", ""),
        }},
    }
    return json.dumps(_drop_none(message), ensure_ascii=False).encode()


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _plan(url: str, report: dict[str, Any]) -> dict[str, Any]:
    """Registers a reader and pre-fetches card material for a sample of cards."""
    from benchmarks.load import prepare_cards

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, headers=admin, timeout=60) as client:
        registered = client.post("/api/v1/admin/readers", json={"clinic_code": CLINIC_CODE})
        reader = registered.raise_for_status().json()
        holders = report["card_holders"]
        step = max(1, len(holders) // SAMPLE_CARDS)
        materials = [client.get(f"/api/v1/admin/cards/{pid}").raise_for_status().json()
                     for pid in holders[::step][:SAMPLE_CARDS]]
        today = date.fromisoformat(client.get("/api/v1/health").json()["now"][:10]).strftime("%Y%m%d")
    cards = prepare_cards(materials)
    return {
        "url": url,
        "headers": {"X-Medical-Institution-Code": CLINIC_CODE, "Authorization": f"Bearer {CLINIC_TOKEN}"},
        "reader_id": reader["reader_id"],
        "device_key_pem": reader["device_key_pem"],
        "cards": [{"pem": c["pem"], "der": base64.b64encode(c["der"]).decode()} for c in cards],
        "number_bodies": [_number_body(n, today).decode() for n in report["sample_numbers"]],
    }


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return round(ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))], 1)


def _summary(raw: dict[str, Any], per_check_requests: int) -> dict[str, Any]:
    ordered = sorted(raw["latencies_ms"])
    duration = raw["duration_s"] or 1.0
    return {
        "checks": raw["checks"], "errors": raw["errors"], "duration_s": round(duration, 2),
        "checks_per_s": round(raw["checks"] / duration, 1),
        "requests_per_s": round(raw["requests"] / duration, 1),
        "requests_per_check": per_check_requests,
        "p50_ms": _percentile(ordered, 0.50), "p95_ms": _percentile(ordered, 0.95),
        "p99_ms": _percentile(ordered, 0.99), "max_ms": round(ordered[-1], 1) if ordered else None,
        "outcomes": raw["outcomes"], "error_samples": raw["error_samples"],
    }


def _load(plan: dict[str, Any], kind: str, clients: int, duration: float) -> dict[str, Any]:
    """Runs the load generator in a separate process (`python -m benchmarks.load`), bounded in time."""
    request = json.dumps({"plan": json.dumps(plan), "kind": kind, "clients": clients, "duration": duration})
    done = subprocess.run([sys.executable, "-m", "benchmarks.load"], input=request.encode(), cwd=ROOT,
                          capture_output=True, timeout=duration + 120, check=False)
    if done.returncode != 0:
        raise click.ClickException(f"load generator failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return _summary(json.loads(done.stdout), 2 if kind == "card" else 1)


def _run_one(backend: str, pg_url: str, persons: int, cards: int, clients: int, duration: float,
             workers: int) -> list[dict[str, Any]]:
    click.echo(f"== {backend}, {persons:,} persons: preparing the database", err=True)
    env, report = _prepare_database(backend, pg_url, persons, cards)
    port = free_port()
    log = BENCH_DIR / f"server-{backend}-{persons}.log"
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    process = start_onshi(["serve", "--port", str(port), "--workers", str(workers)],
                          env={**env, "ONSHI_ADMIN_TOKEN": ADMIN_TOKEN}, log=log)
    url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_http(f"{url}/api/v1/health", timeout=60, process=process)
        plan = _plan(url, report)
        for kind in ("card", "number"):
            click.echo(f"   {kind} checks: {clients} clients for {duration:g} s", err=True)
            figures = _load(plan, kind, clients, duration)
            rows.append({"backend": backend, "persons": persons, "kind": kind, "workers": workers,
                         "clients": clients, "generate_s": report["generate_s"], **figures})
    finally:
        stop(process)
    return rows


def _table(rows: list[dict[str, Any]], face: dict[str, Any] | None) -> str:
    header = (f"{'backend':<9} {'persons':>9} {'check':<7} {'checks/s':>9} {'req/s':>8} {'p50 ms':>7} "
              f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['backend']:<9} {r['persons']:>9,} {r['kind']:<7} {r['checks_per_s']:>9.1f} "
                     f"{r['requests_per_s']:>8.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
                     f"{r['p99_ms']:>7.1f} {r['errors']:>6}")
    if face:
        lines.append(f"reader face match (1 core, {face['width']}x{face['height']}): "
                     f"p50 {face['p50_ms']} ms, p95 {face['p95_ms']} ms (n={face['n']})")
    return "\n".join(lines)


def _face(n: int) -> dict[str, Any] | None:
    try:
        from cardreader_emulator.bench import measure_match_latency
    except ImportError as exc:
        click.echo(f"face match latency skipped: {exc}", err=True)
        return None
    result: dict[str, Any] = measure_match_latency(n)
    return result


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


@click.command(help="性能測定 / benchmark card checks and number checks against real server processes")
@click.option("--backend", type=click.Choice(["sqlite", "postgres", "both"]), default="sqlite",
              show_default=True)
@click.option("--pg-url", default=PG_URL, show_default=True, help=f"PostgreSQL URL (schema {PG_SCHEMA})")
@click.option("--persons", multiple=True, default=("10000",), show_default=True,
              help="population size(s): repeat or comma list, e.g. 10000,1000000 (10k, 1m accepted)")
@click.option("--cards", default=1000, show_default=True, type=int, help="population members with a card")
@click.option("--clients", default=32, show_default=True, type=int, help="concurrent clients")
@click.option("--duration", default=10.0, show_default=True, type=float, help="seconds per run")
@click.option("--workers", default=2, show_default=True, type=int, help="server processes")
@click.option("--face/--no-face", default=True, show_default=True, help="also time the reader's face match")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="save the figures as JSON")
def bench(backend: str, pg_url: str, persons: tuple[str, ...], cards: int, clients: int, duration: float,
          workers: int, face: bool, json_path: Path | None) -> None:
    command = "onshi " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    backends = ["sqlite", "postgres"] if backend == "both" else [backend]
    clients = max(1, min(clients, 1024))
    duration = max(1.0, min(duration, 600.0))
    rows: list[dict[str, Any]] = []
    for name in backends:
        for size in _sizes(persons):
            rows.extend(_run_one(name, pg_url, size, cards, clients, duration, workers))
    face_figures = _face(40) if face else None
    click.echo("")
    click.echo(f"command: {command}")
    machine = _machine()
    click.echo(f"machine: {machine['cpus']} cores, {machine['processor']}, Python {machine['python']}; "
               f"server: {workers} worker process(es); load: {clients} clients, {duration:g} s per run")
    click.echo("card check = challenge + signed submission (2 HTTP requests, face method, "
               "ECDSA attestation); latency per check")
    click.echo(f"note: {CONTENTION}")
    click.echo("")
    click.echo(_table(rows, face_figures))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"command": command, "machine": machine, "runs": rows,
                                         "face_match": face_figures, "note": CONTENTION}, indent=2,
                                        ensure_ascii=False), encoding="utf-8")
        click.echo(f"figures saved to {json_path}")
