"""The check endpoints' own CPU per request, without HTTP: the ASGI app called directly.

`onshi bench` measures whole processes over loopback on a shared machine, where the minute's load
moves requests/s by up to 2×. This calls the application (middleware, routing, endpoint, database)
in one process, one request after another, and divides the process's CPU time by the requests:
a figure that holds still from run to run, for comparing two versions of the hot path. With
``--profile`` it prints cProfile's top functions by own time and by cumulative time.

    python -m benchmarks.inprocess --backend sqlite --kind number --requests 5000 --profile

The database is prepared as `onshi bench` prepares it (10 000 persons by default).
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import click

from benchmarks.cli import (
    ADMIN_TOKEN,
    CLINIC_CODE,
    CLINIC_TOKEN,
    PG_SCHEMA,
    _cpu_seconds,
    _number_body,
    _prepare_database,
)
from benchmarks.load import prepare_cards
from server.jlis import attestation_payload, nonce_bytes, private_key_from_pem, sign_attestation

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call(app: App, method: str, path: str, body: bytes = b"",
               headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request through the ASGI app, as uvicorn hands it over."""
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    path_part, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path_part, "raw_path": path_part.encode(),
             "query_string": query.encode(), "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


class Meter(Protocol):
    """Switched on for the measured requests only (cProfile.Profile, :class:`Callgrind`)."""

    def enable(self) -> None: ...

    def disable(self) -> None: ...


class Callgrind:
    """callgrind's instrumentation of this process, switched with ``callgrind_control``."""

    def _switch(self, state: str) -> None:
        subprocess.run(["callgrind_control", "--instr=" + state, str(os.getpid())], check=True,
                       capture_output=True)

    def enable(self) -> None:
        self._switch("on")

    def disable(self) -> None:
        self._switch("off")


async def _run(app: App, kind: str, requests: int, report: dict[str, Any],
               profiler: Meter | None, concurrency: int) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    clinic = {"X-Medical-Institution-Code": CLINIC_CODE, "Authorization": f"Bearer {CLINIC_TOKEN}"}
    _, data = await call(app, "GET", "/api/v1/health")
    today = json.loads(data)["now"][:10].replace("-", "")
    jobs: list[tuple[str, bytes]] = []
    if kind == "number":
        bodies = [_number_body(n, today) for n in report["sample_numbers"]]
        jobs = [("/api/v1/number-checks", bodies[i % len(bodies)]) for i in range(requests)]
    _, data = await call(app, "POST", "/api/v1/admin/readers",
                              json.dumps({"clinic_code": CLINIC_CODE}).encode(), admin)
    reader = json.loads(data)
    materials = []
    for pid in report["card_holders"][:200]:
        _, data = await call(app, "GET", f"/api/v1/admin/cards/{pid}", headers=admin)
        materials.append(json.loads(data))
    cards = prepare_cards(materials)
    device_key: Any = private_key_from_pem(reader["device_key_pem"])
    challenge = json.dumps({"reader_id": reader["reader_id"]}).encode()

    reader_side = [0.0]  # the reader's signing, not the server's work: left out of the figure

    async def card_check(i: int) -> None:
        card = cards[i % len(cards)]
        status, data = await call(app, "POST", "/api/v1/card-checks/challenge", challenge, clinic)
        signing = time.process_time()
        nonce = json.loads(data)["nonce"]
        payload = attestation_payload(nonce_bytes(nonce), card["der"], "face", reader["reader_id"])
        body = {"reader_id": reader["reader_id"], "nonce": nonce, "certificate_pem": card["pem"],
                "method": "face", "consents": {"medication": True},
                "reader_attestation": base64.b64encode(sign_attestation(device_key, payload)).decode()}
        encoded = json.dumps(body).encode()
        reader_side[0] += time.process_time() - signing
        status, data = await call(app, "POST", "/api/v1/card-checks", encoded, clinic)
        if status != 200:
            raise RuntimeError(f"card check {status}: {data[:300]!r}")

    # Warm-up: caches and prepared statements, every body once (as a bench run's first seconds do).
    for i in range(len(report["sample_numbers"]) if kind == "number" else 50):
        if kind == "number":
            await call(app, "POST", jobs[i % len(jobs)][0], jobs[i % len(jobs)][1], clinic)
        else:
            await card_check(i)
    reader_side[0] = 0.0
    backends = _backends()
    backends_before = sum(_cpu_seconds(pid) for pid in backends)
    started_cpu, started = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    if kind == "number":
        async def numbers(part: list[tuple[str, bytes]]) -> None:
            for path, body in part:
                status, data = await call(app, "POST", path, body, clinic)
                if status != 200:
                    raise RuntimeError(f"number check {status}: {data[:300]!r}")

        await asyncio.gather(*(numbers(jobs[n::concurrency]) for n in range(concurrency)))
        count = requests
    else:
        async def cards_from(start: int) -> None:
            for i in range(start, requests // 2, concurrency):
                await card_check(i)

        await asyncio.gather(*(cards_from(n) for n in range(concurrency)))
        count = requests // 2 * 2
    if profiler:
        profiler.disable()
    cpu = time.process_time() - started_cpu - reader_side[0]
    wall = time.perf_counter() - started - reader_side[0]
    figures = {"kind": kind, "concurrency": concurrency, "requests": count,
               "requests_per_s": round(count / wall), "cpu_ms_per_request": round(cpu / count * 1000, 4),
               "wall_ms_per_request": round(wall / count * 1000, 4)}
    if backends:
        if set(_backends()) != set(backends):
            raise RuntimeError("the pool opened or closed connections during the run: backends' CPU unknown")
        spent = sum(_cpu_seconds(pid) for pid in backends) - backends_before
        figures["database_cpu_ms_per_request"] = round(spent / count * 1000, 4)
    return figures


def _backends() -> list[int]:
    """The PostgreSQL backends of this process's hot-path pools (their connections idle between runs)."""
    from server.storage import checkdb

    return [connection.info.backend_pid for pool in checkdb._POOLS.values() for connection, _ in pool.idle]


def _batches() -> dict[str, float]:
    """Mean requests per batch of this process's batchers (warm-up included)."""
    from server.storage import checkdb

    found: dict[str, list[checkdb.Batcher]] = {"sqlite writes": list(checkdb._SQLITE_GROUPS.values())}
    for pool in checkdb._POOLS.values():
        found.setdefault("postgres reads and writes", []).extend([pool.batches] if pool.batches else [])
    means = {}
    for name, batchers in found.items():
        batches = sum(b.batches for b in batchers)
        if batches:
            means[name] = round(sum(b.units for b in batchers) / batches, 2)
    return means


@click.command()
@click.option("--backend", type=click.Choice(["sqlite", "postgres"]), default="sqlite")
@click.option("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test", show_default=True)
@click.option("--kind", type=click.Choice(["number", "card"]), default="number")
@click.option("--requests", default=5000, show_default=True)
@click.option("--persons", default=10_000, show_default=True)
@click.option("--concurrency", default=1, show_default=True,
              help="requests in flight at once (1: one after another)")
@click.option("--profile", is_flag=True, help="cProfile the measured requests")
@click.option("--profile-out", type=click.Path(dir_okay=False),
              help="with --profile: also save the stats there (python -m pstats FILE: callers, callees)")
@click.option("--instructions", is_flag=True,
              help="count the measured requests' instructions under valgrind (callgrind)")
@click.option("--prepared", type=click.Path(dir_okay=False), hidden=True,
              help="(under valgrind) the database prepared by the parent process: its report")
@click.option("--top", default=30, show_default=True)
def main(backend: str, pg_url: str, kind: str, requests: int, persons: int, concurrency: int, profile: bool,
         profile_out: str | None, instructions: bool, prepared: str | None, top: int) -> None:
    """The hot path's own CPU per request, in one process (no HTTP, no load generator)."""
    import uvloop

    if prepared is None:
        env, report = _prepare_database(backend, pg_url, persons, 1000)
    else:
        env, report = json.loads(Path(prepared).read_text())
    if instructions and prepared is None:
        _count_instructions(env, report, sys.argv[1:])
        return
    os.environ.update(env)
    os.environ["ONSHI_ADMIN_TOKEN"] = ADMIN_TOKEN
    if backend == "postgres":
        os.environ["ONSHI_DATABASE_SCHEMA"] = PG_SCHEMA
    from server.api.app import serve_app

    app = serve_app()
    profiler: Meter | None = Callgrind() if instructions else cProfile.Profile() if profile else None
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        figures = runner.run(_run(app, kind, requests, report, profiler, concurrency))  # type: ignore[arg-type]
    click.echo(json.dumps({"backend": backend, **figures, "batches": _batches()}))
    if instructions:
        return
    if isinstance(profiler, cProfile.Profile):
        stats = pstats.Stats(profiler)
        if profile_out:
            stats.dump_stats(profile_out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)


def _count_instructions(env: dict[str, str], report: dict[str, Any], args: list[str]) -> None:
    """This benchmark again under callgrind, on the database prepared here (generating it under valgrind
    would take an hour); prints the JSON line with ``instructions_per_request`` added."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise click.ClickException("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.json"
        prepared.write_text(json.dumps([env, report]))
        ran = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={tmp}/callgrind.out",
             sys.executable, "-m", "benchmarks.inprocess", *args, "--prepared", str(prepared)],
            capture_output=True, text=True)
    collected = re.search(r"Collected : (\d+)", ran.stderr)
    if ran.returncode != 0 or collected is None:
        raise click.ClickException(f"valgrind failed:\n{ran.stderr[-2000:]}")
    figures = json.loads(ran.stdout.strip().splitlines()[-1])
    figures["instructions_per_request"] = round(int(collected.group(1)) / figures["requests"])
    click.echo(json.dumps(figures))


if __name__ == "__main__":
    main()
