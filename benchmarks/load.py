"""The load generator of `onshi bench`: N concurrent clients for a bounded time, in its own process.

Each client loops until the deadline: a card check is two requests (challenge, then the signed
submission, face method: the reader's ECDSA attestation), a number check is one. Latency is
per check (both requests for a card check). Loopback only. Answers are parsed with orjson: the
generator shares the machine's cores with the server it measures, so its own CPU is kept small.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from server.jlis import (
    attestation_payload,
    nonce_bytes,
    present_certificate,
    private_key_from_pem,
)
from server.jlis import sign_attestation as _sign


@dataclass
class LoadResult:
    kind: str
    duration_s: float = 0.0
    checks: int = 0
    requests: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    health_ms: list[float] = field(default_factory=list)
    health_errors: int = 0


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection, hand-written: httpx spent ~8 ms of CPU per request here and
    took one of the machine's two cores away from the server being measured."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"Host: {self.host}:{self.port}\r\n{fixed}Content-Type: application/json\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.request(b"POST", path, body)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request(b"GET", path, b"")

    async def request(self, method: bytes, path: str, body: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            try:
                self.writer.write(method + b" " + path.encode() + b" HTTP/1.1\r\n" + self.head
                                  + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
                continue
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = None
            keep = True
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    keep = False
                elif name == b"transfer-encoding":
                    raise HttpError("chunked answers are not expected")
            data = await self.reader.readexactly(length or 0)
            if not keep:
                self.close()
            return status, data
        raise HttpError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _fail(result: LoadResult, exc: Exception) -> None:
    result.errors += 1
    if len(result.error_samples) < 5:
        result.error_samples.append(str(exc) or type(exc).__name__)


async def _card_client(client: Connection, plan: dict[str, Any], deadline: float, offset: int,
                       result: LoadResult, device_key: Any) -> None:
    cards = plan["cards"]
    reader_id = plan["reader_id"]
    challenge = orjson.dumps({"reader_id": reader_id})
    i = offset
    while time.perf_counter() < deadline:
        card = cards[i % len(cards)]
        i += 1
        started = time.perf_counter()
        try:
            status, data = await client.post("/api/v1/card-checks/challenge", challenge)
            result.requests += 1
            if status != 200:
                raise RuntimeError(f"challenge {status}: {data[:200]!r}")
            nonce = orjson.loads(data)["nonce"]
            payload = attestation_payload(nonce_bytes(nonce), card["der"], "face", reader_id)
            body = {"reader_id": reader_id, "nonce": nonce, "certificate_pem": card["pem"], "method": "face",
                    "reader_attestation": base64.b64encode(_sign(device_key, payload)).decode(),
                    "consents": {"medication": True}}
            status, data = await client.post("/api/v1/card-checks", orjson.dumps(body))
            result.requests += 1
            if status != 200:
                raise RuntimeError(f"card check {status}: {data[:200]!r}")
            validity = orjson.loads(data)["result"]["MessageBody"].get("ProcessingResultStatus", "?")
            result.outcomes[validity] = result.outcomes.get(validity, 0) + 1
        except (OSError, asyncio.IncompleteReadError, HttpError, RuntimeError, KeyError, ValueError) as exc:
            _fail(result, exc)
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.checks += 1


async def _number_client(client: Connection, plan: dict[str, Any], deadline: float, offset: int,
                         result: LoadResult, path: str = "/api/v1/number-checks") -> None:
    """Number checks; with ``path="/ceiling"`` the same bodies to the bare endpoint (the ceiling)."""
    bodies = [b.encode() for b in plan["number_bodies"]]
    ceiling = path == "/ceiling"
    i = offset
    while time.perf_counter() < deadline:
        body = bodies[i % len(bodies)]
        i += 1
        started = time.perf_counter()
        try:
            status, data = await client.post(path, body)
            result.requests += 1
            if status != 200:
                raise RuntimeError(f"{path} {status}: {data[:200]!r}")
            outcome = "ok" if ceiling else orjson.loads(data)["result"]["MessageBody"].get(
                "ProcessingResultStatus", "?")
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
        except (OSError, asyncio.IncompleteReadError, HttpError, RuntimeError, KeyError, ValueError) as exc:
            _fail(result, exc)
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.checks += 1


async def _clients(plan: dict[str, Any], kind: str, connections: list[Connection], deadline: float, step: int,
                   result: LoadResult, device_key: Any) -> None:
    if kind == "card":
        await asyncio.gather(*(_card_client(c, plan, deadline, n * step, result, device_key)
                               for n, c in enumerate(connections)))
    else:
        path = "/ceiling" if kind == "ceiling" else "/api/v1/number-checks"
        await asyncio.gather(*(_number_client(c, plan, deadline, n * step, result, path)
                               for n, c in enumerate(connections)))


HEALTH_EVERY_S = 0.1


async def _health_probe(client: Connection, deadline: float, result: LoadResult) -> None:
    """`GET /api/v1/health` every 0.1 s on its own connection while the checks run: a health check
    must stay responsive under load (nothing may block the server's event loop)."""
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            status, _ = await client.get("/api/v1/health")
            if status != 200:
                raise RuntimeError(f"health {status}")
        except (OSError, asyncio.IncompleteReadError, HttpError, RuntimeError):
            result.health_errors += 1
        else:
            result.health_ms.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(max(0.0, HEALTH_EVERY_S - (time.perf_counter() - started)))


async def _run(plan: dict[str, Any], kind: str, clients: int, duration: float) -> LoadResult:
    result = LoadResult(kind=kind)
    device_key = private_key_from_pem(plan["device_key_pem"]) if kind == "card" else None
    connections = [Connection(plan["url"], plan["headers"]) for _ in range(clients)]  # one per client
    try:
        # Warm-up, not counted (connections, server caches).
        warm = LoadResult(kind=kind)
        await _clients(plan, kind, connections, time.perf_counter() + min(1.0, duration / 5), 7, warm,
                       device_key)
        started = time.perf_counter()
        probe = Connection(plan["url"], {})
        connections.append(probe)
        checks = _clients(plan, kind, connections[:-1], started + duration, 13, result, device_key)
        if kind == "ceiling":
            await checks
        else:
            await asyncio.gather(checks, _health_probe(probe, started + duration, result))
        result.duration_s = time.perf_counter() - started
    finally:
        for c in connections:
            c.close()
    return result


def prepare_cards(materials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Card material -> what a client needs per check (the certificate as PEM and DER)."""
    return [{"pem": m["certificate_pem"], "der": present_certificate(m["certificate_pem"]).der}
            for m in materials if m.get("certificate_pem")]


def run_load(plan_json: str, kind: str, clients: int, duration: float) -> dict[str, Any]:
    """Entry point of the load process (arguments and answer are plain data)."""
    plan = json.loads(plan_json)
    plan["cards"] = [{"pem": c["pem"], "der": base64.b64decode(c["der"])} for c in plan.get("cards", [])]
    try:
        import uvloop

        factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(_run(plan, kind, clients, duration))
    return vars(result)


def main() -> None:
    """``python -m benchmarks.load``: a request as JSON on stdin, the figures as JSON on stdout."""
    import sys

    request = json.load(sys.stdin)
    answer = run_load(request["plan"], request["kind"], int(request["clients"]), float(request["duration"]))
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
