"""The load generator: its own process, so the server's CPU is not shared with the client's
event loop more than the two cores force.

``python -m bench.load SPEC.json OUT.json``: for each case in the spec, send ``warmup``
requests, then exactly ``requests`` requests from ``concurrency`` keep-alive connections, and
record every latency. Request bodies are made before the clock starts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import stripe


def webhook_body(template: dict[str, Any], secret: str, event_id: str, created: int) -> Any:
    event = json.loads(json.dumps(template))
    event["id"] = event_id
    event["created"] = created
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=int(time.time())
    )
    return payload, {"Stripe-Signature": header, "Content-Type": "application/json"}


def bodies(case: dict[str, Any], total: int, prefix: str) -> list[tuple[Any, dict[str, str]]]:
    """One (body, extra headers) per request; unique where the endpoint needs it."""
    kind = case.get("body")
    if kind == "login_link":
        return [
            (json.dumps({"email": f"{prefix}{n}@load.bench.example"}), {}) for n in range(total)
        ]
    if kind == "webhook":
        start = case["created_from"]
        return [
            webhook_body(case["event"], case["secret"], f"evt_bench_{prefix}{n}", start + n)
            for n in range(total)
        ]
    return [(None, {})] * total


async def run_case(
    session: aiohttp.ClientSession, base: str, case: dict[str, Any], count: int, prefix: str
) -> dict[str, Any]:
    prepared = bodies(case, count, prefix)
    headers = {**case.get("headers", {})}
    if case.get("body"):
        headers["Content-Type"] = "application/json"
    latencies = [0.0] * count
    statuses: dict[int, int] = {}
    statements: set[str] = set()
    following = iter(range(count))

    async def worker() -> None:
        for n in following:
            body, extra = prepared[n]
            started = time.perf_counter()
            async with session.request(
                case["method"],
                base + case["path"],
                data=body,
                headers={**headers, **extra},
                cookies=case.get("cookies"),
            ) as response:
                await response.read()
            latencies[n] = time.perf_counter() - started
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if "x-bench-sql-statements" in response.headers:
                statements.add(response.headers["x-bench-sql-statements"])

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(case["concurrency"])))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": count,
        "seconds": elapsed,
        "rps": count / elapsed,
        "p50_ms": ordered[count // 2] * 1000,
        "p99_ms": ordered[min(count - 1, int(count * 0.99))] * 1000,
        "max_ms": ordered[-1] * 1000,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "sql_statements": sorted(statements),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=spec["concurrency"] * 2)
    results: dict[str, Any] = {}
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        for case in spec["cases"]:
            case.setdefault("concurrency", spec["concurrency"])
            tag = f"{spec['run']}-{case['name']}-"
            warmup = case.get("warmup", spec["warmup"])
            if warmup:
                await run_case(session, spec["base"], case, warmup, tag + "w")
            count = case.get("requests", spec["requests"])
            beside = case.get("alongside")
            if beside is None:
                results[case["name"]] = await run_case(session, spec["base"], case, count, tag)
                continue
            # Another endpoint loaded at the same time (writes beside reads): measured is
            # the case itself; the other one runs until it is done.
            beside.setdefault("concurrency", case["concurrency"])
            measured, _ = await asyncio.gather(
                run_case(session, spec["base"], case, count, tag),
                run_case(session, spec["base"], beside, count, tag + "b"),
            )
            results[case["name"]] = measured
    return results


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    Path(out_path).write_text(json.dumps(asyncio.run(run(spec)), indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
