"""The load generator of `onshi bench`: N concurrent clients for a bounded time, in its own process.

Each client loops until the deadline: a card check is two requests (challenge, then the signed
submission, face method: the reader's ECDSA attestation), a number check is one. Latency is
per check (both requests for a card check). Loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from server.jlis import attestation_payload, certificate_to_der, load_certificate, private_key_from_pem
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


def _nonce_bytes(nonce: str) -> bytes:
    return base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))


async def _card_client(client: httpx.AsyncClient, plan: dict[str, Any], deadline: float, offset: int,
                       result: LoadResult, device_key: Any) -> None:
    cards = plan["cards"]
    reader_id = plan["reader_id"]
    i = offset
    while time.perf_counter() < deadline:
        card = cards[i % len(cards)]
        i += 1
        started = time.perf_counter()
        try:
            r1 = await client.post("/api/v1/card-checks/challenge", json={"reader_id": reader_id})
            result.requests += 1
            if r1.status_code != 200:
                raise RuntimeError(f"challenge {r1.status_code}: {r1.text[:200]}")
            nonce = r1.json()["nonce"]
            payload = attestation_payload(_nonce_bytes(nonce), card["der"], "face", reader_id)
            body = {"reader_id": reader_id, "nonce": nonce, "certificate_pem": card["pem"], "method": "face",
                    "reader_attestation": base64.b64encode(_sign(device_key, payload)).decode(),
                    "consents": {"medication": True}}
            r2 = await client.post("/api/v1/card-checks", json=body)
            result.requests += 1
            if r2.status_code != 200:
                raise RuntimeError(f"card check {r2.status_code}: {r2.text[:200]}")
            validity = r2.json()["result"]["MessageBody"].get("ProcessingResultStatus", "?")
            result.outcomes[validity] = result.outcomes.get(validity, 0) + 1
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            result.errors += 1
            if len(result.error_samples) < 5:
                result.error_samples.append(str(exc) or type(exc).__name__)
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.checks += 1


async def _number_client(client: httpx.AsyncClient, plan: dict[str, Any], deadline: float, offset: int,
                         result: LoadResult) -> None:
    bodies = plan["number_bodies"]
    i = offset
    while time.perf_counter() < deadline:
        body = bodies[i % len(bodies)]
        i += 1
        started = time.perf_counter()
        try:
            response = await client.post("/api/v1/number-checks", content=body,
                                         headers={"Content-Type": "application/json"})
            result.requests += 1
            if response.status_code != 200:
                raise RuntimeError(f"number check {response.status_code}: {response.text[:200]}")
            status = response.json()["result"]["MessageBody"].get("ProcessingResultStatus", "?")
            result.outcomes[status] = result.outcomes.get(status, 0) + 1
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as exc:
            result.errors += 1
            if len(result.error_samples) < 5:
                result.error_samples.append(str(exc) or type(exc).__name__)
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.checks += 1


async def _run(plan: dict[str, Any], kind: str, clients: int, duration: float) -> LoadResult:
    result = LoadResult(kind=kind)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    device_key = private_key_from_pem(plan["device_key_pem"])
    async with httpx.AsyncClient(base_url=plan["url"], headers=plan["headers"], limits=limits,
                                 timeout=30.0) as client:
        # Warm-up: one of each, not counted (connections, server caches).
        warm = LoadResult(kind=kind)
        warm_deadline = time.perf_counter() + min(1.0, duration / 5)
        if kind == "card":
            await asyncio.gather(*(_card_client(client, plan, warm_deadline, c * 7, warm, device_key)
                                   for c in range(clients)))
        else:
            await asyncio.gather(*(_number_client(client, plan, warm_deadline, c * 7, warm)
                                   for c in range(clients)))
        started = time.perf_counter()
        deadline = started + duration
        if kind == "card":
            await asyncio.gather(*(_card_client(client, plan, deadline, c * 13, result, device_key)
                                   for c in range(clients)))
        else:
            await asyncio.gather(*(_number_client(client, plan, deadline, c * 13, result)
                                   for c in range(clients)))
        result.duration_s = time.perf_counter() - started
    return result


def prepare_cards(materials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Card material -> what a client needs per check (the certificate as PEM and DER)."""
    return [{"pem": m["certificate_pem"], "der": certificate_to_der(load_certificate(m["certificate_pem"]))}
            for m in materials if m.get("certificate_pem")]


def run_load(plan_json: str, kind: str, clients: int, duration: float) -> dict[str, Any]:
    """Entry point of the load process (arguments and answer are plain data)."""
    plan = json.loads(plan_json)
    plan["cards"] = [{"pem": c["pem"], "der": base64.b64decode(c["der"])} for c in plan["cards"]]
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
