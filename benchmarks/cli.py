"""`onshi bench`: card checks and number checks per second against real server processes.

Per backend and population size: a fresh database (SQLite file under var/bench, or a fresh
PostgreSQL schema), the fixture personas plus a generated population, `onshi serve --workers N`
in its own processes, then N concurrent clients in a separate load process for a bounded time.
Per check kind, the bare endpoint (the ceiling) and every backend take turns in short rounds, so that
a shared machine's drift hits them alike (:func:`_run_size`).
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
from dataclasses import dataclass
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
CEILING = "ceiling"  # the bare endpoint, as a backend of the rounds and a kind of the load generator
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


def _prepare_database(backend: str, pg_url: str, persons: int, cards: int, pg_schema: str = PG_SCHEMA
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
        separator = "&" if "?" in pg_url else "?"
        env = {"ONSHI_DATABASE_URL": f"{pg_url}{separator}application_name={APPLICATION_NAME}",
               "ONSHI_DATABASE_SCHEMA": pg_schema}
        engine = make_engine(pg_url, schema=pg_schema)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{pg_schema}"'))
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
    health = sorted(raw.get("health_ms") or [])
    return {
        "checks": raw["checks"], "errors": raw["errors"], "duration_s": round(duration, 2),
        "checks_per_s": round(raw["checks"] / duration, 1),
        "requests_per_s": round(raw["requests"] / duration, 1),
        "requests_per_check": per_check_requests,
        "p50_ms": _percentile(ordered, 0.50), "p95_ms": _percentile(ordered, 0.95),
        "p99_ms": _percentile(ordered, 0.99), "max_ms": round(ordered[-1], 1) if ordered else None,
        "outcomes": raw["outcomes"], "error_samples": raw["error_samples"],
        "health_under_load": {"n": len(health), "errors": raw.get("health_errors", 0),
                              "p50_ms": _percentile(health, 0.50), "p99_ms": _percentile(health, 0.99),
                              "max_ms": round(health[-1], 1) if health else None},
    }


@dataclass
class _Slice:
    """One load-generator run: its raw answer and the CPU time the server spent meanwhile."""

    raw: dict[str, Any]
    cpu_s: float | None
    database_cpu_s: float | None


def _slice(plan: dict[str, Any], kind: str, clients: int, duration: float,
           profile: tuple[int, Path] | None = None, meter: CpuMeter | None = None) -> _Slice:
    """Runs the load generator in a separate process (`python -m benchmarks.load`), bounded in time;
    ``profile`` = (server pid, file): py-spy samples the server meanwhile."""
    from benchmarks import profile as profiling

    request = json.dumps({"plan": json.dumps(plan), "kind": kind, "clients": clients, "duration": duration})
    spy = profiling.start(profile[0], duration, profile[1]) if profile else None
    before = meter.snapshot() if meter else {}
    done = subprocess.run([sys.executable, "-m", "benchmarks.load"], input=request.encode(), cwd=ROOT,
                          capture_output=True, timeout=duration + 120, check=False)
    after = meter.snapshot() if meter else {}
    if spy is not None:
        spy.wait(timeout=60)
    if done.returncode != 0:
        raise click.ClickException(f"load generator failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return _Slice(json.loads(done.stdout), CpuMeter.spent(before, after) if meter else None,
                  CpuMeter.spent(before, after, meter.backends) if meter and meter.backends else None)


def _merged(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """The load generator's answers of several slices as if of one run as long as them all."""
    outcomes: dict[str, int] = {}
    for raw in raws:
        for outcome, n in raw["outcomes"].items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    return {"checks": sum(r["checks"] for r in raws), "requests": sum(r["requests"] for r in raws),
            "errors": sum(r["errors"] for r in raws), "duration_s": sum(r["duration_s"] for r in raws),
            "latencies_ms": [x for r in raws for x in r["latencies_ms"]],
            "error_samples": [x for r in raws for x in r["error_samples"]][:10], "outcomes": outcomes,
            "health_ms": [x for r in raws for x in r.get("health_ms") or []],
            "health_errors": sum(r.get("health_errors", 0) for r in raws)}


def _figures(slices: list[_Slice], kind: str) -> dict[str, Any]:
    """Requests per second, latency percentiles and CPU per request over ``slices``."""
    figures = _summary(_merged([s.raw for s in slices]), 2 if kind == "card" else 1)
    requests = figures["requests_per_s"] * figures["duration_s"]
    cpu = sum(s.cpu_s or 0.0 for s in slices)
    database_cpu = sum(s.database_cpu_s or 0.0 for s in slices)
    # Includes the warm-ups' requests' CPU (about a fifth of a second's worth each): a slight overestimate.
    figures["server_cpu_ms_per_request"] = round(1000 * cpu / requests, 3) if cpu and requests else None
    # Of which PostgreSQL's backends (the rest: the server's own processes).
    figures["database_cpu_ms_per_request"] = (round(1000 * database_cpu / requests, 3)
                                              if database_cpu and requests else None)
    return figures


def _load(plan: dict[str, Any], kind: str, clients: int, duration: float) -> dict[str, Any]:
    """One run's figures (no CPU meter)."""
    return _figures([_slice(plan, kind, clients, duration)], kind)


CEILING_NUMBERS = {"insurer": "06139993", "symbol": "記号", "number": "1234567", "branch": "01",
                   "birthdate": "1980-01-01"}


APPLICATION_NAME = "onshi-bench"  # the server's PostgreSQL sessions, to find their backends' CPU time


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _pg_backends(pg_url: str) -> list[int]:
    try:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                                (APPLICATION_NAME,)).fetchall()
        return [int(r[0]) for r in rows]
    except Exception:  # CPU accounting is best effort
        return []


class CpuMeter:
    """CPU seconds spent by the server's processes (and, on PostgreSQL, its backends) during a run:
    on a shared machine, CPU per request moves far less with the load than requests per second."""

    def __init__(self, pid: int, pg_url: str | None) -> None:
        self.pid, self.pg_url = pid, pg_url

        self.backends: set[int] = set()

    def snapshot(self) -> dict[int, float]:
        backends = _pg_backends(self.pg_url) if self.pg_url else []
        self.backends.update(backends)
        return {p: _cpu_seconds(p) for p in _tree(self.pid) + backends}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float], only: set[int] | None = None) -> float:
        return sum(max(0.0, cpu - before.get(p, 0.0)) for p, cpu in after.items()
                   if only is None or p in only)


def _start_ceiling(workers: int) -> _Server:
    """The bare endpoint (`benchmarks.ceiling`), same workers and uvicorn options as `onshi serve`,
    driven by the same load generator with a number check's body and the clinic's headers."""
    port = free_port()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    with open(BENCH_DIR / "server-ceiling.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.ceiling", str(port), str(workers)],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/ceiling", timeout=60, process=process)  # (405 to a GET: it answers)
    except BaseException:
        stop(process)
        raise
    plan = {"url": url, "headers": {"X-Medical-Institution-Code": CLINIC_CODE,
                                    "Authorization": f"Bearer {CLINIC_TOKEN}"},
            "number_bodies": [_number_body(CEILING_NUMBERS, "20261203").decode()]}
    return _Server(CEILING, 0, process, plan, 0.0, None)


def _ceiling_figures(slices: list[_Slice], clients: int, workers: int) -> dict[str, Any]:
    figures = _figures(slices, CEILING)
    return {"requests_per_s": figures["requests_per_s"], "p50_ms": figures["p50_ms"],
            "p99_ms": figures["p99_ms"], "errors": figures["errors"], "clients": clients, "workers": workers,
            "server_cpu_ms_per_request": figures["server_cpu_ms_per_request"]}


def _cpu_share(ceiling: dict[str, Any] | None, figures: dict[str, Any]) -> float | None:
    """The ceiling's server CPU per request over ours: the share in CPU terms, steadier under load."""
    ours = figures.get("server_cpu_ms_per_request")
    theirs = (ceiling or {}).get("server_cpu_ms_per_request")
    return round(theirs / ours, 3) if ours and theirs else None


def _mean_ceiling(ceilings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ceiling of the whole run (the mean of its measurements; each check kind's share uses its own)."""
    if not ceilings:
        return None
    mean = {key: round(sum(c[key] or 0 for c in ceilings) / len(ceilings), 3)
            for key in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_request")}
    return {**mean, "errors": sum(c["errors"] for c in ceilings), "clients": ceilings[0]["clients"],
            "workers": ceilings[0]["workers"], "measurements": ceilings}


@dataclass(frozen=True)
class _Setup:
    """What every run of one `onshi bench` shares."""

    pg_url: str
    pg_schema: str
    cards: int
    clients: int
    low_clients: int
    duration: float
    workers: int
    profile: bool
    rounds: int


@dataclass
class _Server:
    """One backend's `onshi serve`, its database ready and its load plan made."""

    backend: str
    persons: int
    process: subprocess.Popen[bytes]
    plan: dict[str, Any]
    generate_s: float
    pg_url: str | None  # (PostgreSQL: to find its backends' CPU time)


def _start_server(backend: str, persons: int, setup: _Setup) -> _Server:
    click.echo(f"== {backend}, {persons:,} persons: preparing the database", err=True)
    env, report = _prepare_database(backend, setup.pg_url, persons, setup.cards, setup.pg_schema)
    port = free_port()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    process = start_onshi(["serve", "--port", str(port), "--workers", str(setup.workers)],
                          env={**env, "ONSHI_ADMIN_TOKEN": ADMIN_TOKEN},
                          log=BENCH_DIR / f"server-{backend}-{persons}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/v1/health", timeout=60, process=process)
        plan = _plan(url, report)
    except BaseException:
        stop(process)
        raise
    return _Server(backend, persons, process, plan, report["generate_s"],
                   setup.pg_url if backend == "postgres" else None)


def _run_size(backends: list[str], persons: int, setup: _Setup, ceilings: list[dict[str, Any]] | None
              ) -> list[dict[str, Any]]:
    """Every backend's server (and the ceiling's) started at once (an idle one costs nothing), then per
    check kind ``setup.rounds`` rounds of the ceiling and each backend in turn, ``duration / rounds``
    seconds each; a backend's figures are over its slices of all rounds, its share against the
    ceiling's over the slices between them (appended to ``ceilings``; None: no ceiling).

    On a shared machine the ceiling moved by up to 2× from one minute to the next, and the CPU time a
    request costs with it: measured one after the other, SQLite's and PostgreSQL's figures were
    minutes apart and their ratio moved from 0.50 to 0.83 between two runs of the same code. Drift
    slower than a round hits the ceiling and every backend alike."""
    servers: list[_Server] = []
    try:
        if ceilings is not None:
            servers.append(_start_ceiling(setup.workers))
        for backend in backends:
            servers.append(_start_server(backend, persons, setup))
        rows = []
        for kind in ("card", "number"):
            slices = _rounds(servers, kind, setup)
            ceiling = None
            if ceilings is not None:
                ceiling = _ceiling_figures(slices[CEILING], setup.clients, setup.workers)
                ceilings.append(ceiling)
            for server in servers:
                if server.backend != CEILING:
                    rows.append(_row(server, kind, setup, _figures(slices[server.backend], kind), ceiling))
    finally:
        for server in servers:
            stop(server.process)
    return sorted(rows, key=lambda r: (backends.index(r["backend"]), r["kind"]))


def _rounds(servers: list[_Server], kind: str, setup: _Setup) -> dict[str, list[_Slice]]:
    """Per server (by backend), its slices of ``setup.rounds`` rounds with ``setup.clients``."""
    slices: dict[str, list[_Slice]] = {server.backend: [] for server in servers}
    seconds = setup.duration / setup.rounds
    for n in range(setup.rounds):
        for server in servers:
            load = CEILING if server.backend == CEILING else kind  # (the bare endpoint takes its own)
            what = server.backend if load == CEILING else f"{server.backend} {kind}"
            click.echo(f"   {what}: {setup.clients} clients for {seconds:g} s "
                       f"(round {n + 1} of {setup.rounds})", err=True)
            spied = None
            if setup.profile and load != CEILING:
                spied = (server.process.pid, BENCH_DIR / f"profile-{server.backend}-{kind}.txt")
            slices[server.backend].append(_slice(server.plan, load, setup.clients, seconds, spied,
                                                 CpuMeter(server.process.pid, server.pg_url)))
            if spied and spied[1].exists():
                from benchmarks.profile import top_lines

                click.echo(f"   profile ({spied[1]}):\n{top_lines(spied[1])}", err=True)
    return slices


def _row(server: _Server, kind: str, setup: _Setup, figures: dict[str, Any], ceiling: dict[str, Any] | None
         ) -> dict[str, Any]:
    """One backend's figures for one check kind, with a run at ``setup.low_clients`` for its p99."""
    click.echo(f"   {server.backend} {kind}: {setup.low_clients} clients for {setup.duration:g} s", err=True)
    low = _load(server.plan, kind, setup.low_clients, setup.duration)
    share = (round(figures["requests_per_s"] / ceiling["requests_per_s"], 3)
             if ceiling and ceiling["requests_per_s"] else None)
    return {"backend": server.backend, "persons": server.persons, "kind": kind, "workers": setup.workers,
            "clients": setup.clients, "rounds": setup.rounds, "generate_s": server.generate_s, **figures,
            "share_of_ceiling": share,
            "ceiling_requests_per_s": ceiling["requests_per_s"] if ceiling else None,
            "cpu_share_of_ceiling": _cpu_share(ceiling, figures),
            "low_clients": {k: low[k] for k in ("checks_per_s", "requests_per_s", "p50_ms",
                                                "p95_ms", "p99_ms", "errors", "health_under_load")}
            | {"clients": setup.low_clients}}


# The aims of a lean hot path (benchmarks/README.md): shares of the ceiling's requests per second
# for SQLite, PostgreSQL's requests per second relative to SQLite's (measured back to back), no errors.
SHARE_TARGETS = {"number": 0.30, "card": 0.25}
POSTGRES_OVER_SQLITE_TARGET = 0.70


def _targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each aim, its figure in this run and whether it was met."""
    def aim(what: str, persons: int | None, value: float, target: float, met: bool) -> dict[str, Any]:
        return {"what": what, "persons": persons, "value": value, "target": target, "met": met}

    out: list[dict[str, Any]] = []
    found = {(r["backend"], r["persons"], r["kind"]): r for r in rows}
    for (backend, persons, kind), row in found.items():
        share = row.get("share_of_ceiling")
        if backend == "sqlite" and share is not None:
            target = SHARE_TARGETS[kind]
            out.append(aim(f"sqlite {kind} share of ceiling", persons, share, target, share >= target))
        sqlite = found.get(("sqlite", persons, kind))
        if backend == "postgres" and sqlite and sqlite["requests_per_s"]:
            ratio = round(row["requests_per_s"] / sqlite["requests_per_s"], 3)
            out.append(aim(f"postgres / sqlite {kind} req/s", persons, ratio, POSTGRES_OVER_SQLITE_TARGET,
                           ratio >= POSTGRES_OVER_SQLITE_TARGET))
    errors = sum(r["errors"] + (r.get("low_clients") or {}).get("errors", 0) for r in rows)
    out.append(aim("errors", None, errors, 0, errors == 0))
    return out


def _targets_text(aims: list[dict[str, Any]]) -> str:
    lines = ["targets:"]
    for aim in aims:
        where = f" ({aim['persons']:,} persons)" if aim["persons"] else ""
        relation = "=" if aim["what"] == "errors" else "≥"
        lines.append(f"  {'met    ' if aim['met'] else 'MISSED '} {aim['what']}{where}: {aim['value']:g} "
                     f"(aim {relation} {aim['target']:g})")
    return "\n".join(lines)


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def _table(rows: list[dict[str, Any]], face: dict[str, Any] | None, ceiling: dict[str, Any] | None = None,
           low_clients: int = 8) -> str:
    p99_low = f"p99@{low_clients}"
    header = (f"{'backend':<9} {'persons':>9} {'check':<7} {'checks/s':>9} {'req/s':>8} {'ceil':>6} "
              f"{'share':>6} {'cpu ms':>6} {'cpu sh':>6} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {p99_low:>7} {'health p99':>10} {'errors':>6}")
    lines = [header, "-" * len(header)]
    if ceiling:
        lines.append(f"{'ceiling':<9} {'':>9} {'bare':<7} {'':>9} {ceiling['requests_per_s']:>8.1f} "
                     f"{'mean':>6} {1:>6.2f} {_num(ceiling.get('server_cpu_ms_per_request'), 6, 3)} "
                     f"{1:>6.2f} "
                     f"{ceiling['p50_ms']:>7.1f} {'':>7} {ceiling['p99_ms']:>7.1f} {'':>7} "
                     f"{'':>10} {ceiling['errors']:>6}")
    for r in rows:
        share = f"{r['share_of_ceiling']:>6.2f}" if r.get("share_of_ceiling") is not None else f"{'-':>6}"
        low = r.get("low_clients") or {}
        health = r.get("health_under_load") or {}
        lines.append(f"{r['backend']:<9} {r['persons']:>9,} {r['kind']:<7} {r['checks_per_s']:>9.1f} "
                     f"{r['requests_per_s']:>8.1f} {_num(r.get('ceiling_requests_per_s'), 6, 0)} {share} "
                     f"{_num(r.get('server_cpu_ms_per_request'), 6, 3)} "
                     f"{_num(r.get('cpu_share_of_ceiling'), 6, 2)} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f} "
                     f"{r['p99_ms']:>7.1f} {low.get('p99_ms', float('nan')):>7.1f} "
                     f"{health.get('p99_ms', float('nan')):>10.1f} {r['errors'] + low.get('errors', 0):>6}")
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
@click.option("--pg-url", default=PG_URL, show_default=True, help="PostgreSQL URL")
@click.option("--pg-schema", default=PG_SCHEMA, show_default=True,
              help="PostgreSQL schema, dropped and made afresh")
@click.option("--persons", multiple=True, default=("10000",), show_default=True,
              help="population size(s): repeat or comma list, e.g. 10000,1000000 (10k, 1m accepted)")
@click.option("--cards", default=1000, show_default=True, type=int, help="population members with a card")
@click.option("--clients", default=32, show_default=True, type=int, help="concurrent clients")
@click.option("--low-clients", default=8, show_default=True, type=int,
              help="a second run of each check with this many clients (p99 at light load)")
@click.option("--ceiling/--no-ceiling", default=True, show_default=True,
              help="measure the bare FastAPI endpoint in the same rounds (the ceiling; shares are of it)")
@click.option("--duration", default=10.0, show_default=True, type=float,
              help="seconds per check kind and backend (and of the ceiling beside each kind)")
@click.option("--rounds", default=5, show_default=True, type=int,
              help="the duration in this many slices, the ceiling and every backend in turn (with "
                   "--profile: 1, one profile per run)")
@click.option("--profile", is_flag=True, default=False,
              help="sample the server with py-spy during each run (var/bench/profile-*.txt, top lines shown)")
@click.option("--workers", default=2, show_default=True, type=int, help="server processes")
@click.option("--face/--no-face", default=True, show_default=True, help="also time the reader's face match")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="save the figures as JSON")
def bench(backend: str, pg_url: str, pg_schema: str, persons: tuple[str, ...], cards: int, clients: int,
          low_clients: int, ceiling: bool, duration: float, rounds: int, profile: bool, workers: int,
          face: bool, json_path: Path | None) -> None:
    command = "onshi " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    backends = ["sqlite", "postgres"] if backend == "both" else [backend]
    clients = max(1, min(clients, 1024))
    low_clients = max(1, min(low_clients, 1024))
    duration = max(1.0, min(duration, 600.0))
    load_before = os.getloadavg()
    rows: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    setup = _Setup(pg_url=pg_url, pg_schema=pg_schema, cards=cards, clients=clients, low_clients=low_clients,
                   duration=duration, workers=workers, profile=profile,
                   rounds=1 if profile else max(1, min(rounds, int(duration))))
    for size in _sizes(persons):
        rows.extend(_run_size(backends, size, setup, ceilings if ceiling else None))
    ceiling_figures = _mean_ceiling(ceilings)
    face_figures = _face(40) if face else None
    click.echo("")
    click.echo(f"command: {command}")
    machine = _machine()
    click.echo(f"machine: {machine['cpus']} cores, {machine['processor']}, Python {machine['python']}; "
               f"server: {workers} worker process(es); load: {clients} clients, {duration:g} s per check "
               f"and backend, in {setup.rounds} round(s) with the ceiling and the other backends in turn")
    click.echo("card check = challenge + signed submission (2 HTTP requests, face method, "
               "ECDSA attestation); latency per check")
    click.echo(f"note: {CONTENTION}")
    click.echo("")
    load_after = os.getloadavg()
    click.echo(f"load average (1 min): {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end; "
               f"share = requests/s over the bare endpoint's (ceiling) in the same rounds "
               f"(ceil: that ceiling's requests/s; the ceiling row: the mean over check kinds); "
               f"p99@{low_clients} = p99 with {low_clients} clients; health p99 = GET /api/v1/health "
               f"every 0.1 s during the {clients}-client run; cpu ms = server CPU per request (its "
               f"processes, and on PostgreSQL its backends); cpu sh = the ceiling's cpu ms over the run's")
    click.echo("")
    click.echo(_table(rows, face_figures, ceiling_figures, low_clients))
    aims = _targets(rows)
    click.echo(_targets_text(aims))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"command": command, "machine": machine,
                                         "load_average": {"start": list(load_before),
                                                          "end": list(load_after)},
                                         "ceiling": ceiling_figures, "runs": rows, "targets": aims,
                                         "face_match": face_figures, "note": CONTENTION}, indent=2,
                                        ensure_ascii=False), encoding="utf-8")
        click.echo(f"figures saved to {json_path}")
