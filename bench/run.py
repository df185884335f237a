"""`nox -s bench`: the app in a real server process on SQLite and on Postgres, under load
from a second process, compared with a bare Litestar JSON endpoint on the same server.

    python -m bench.run [--quick] [--db sqlite|postgres|both] [--requests N]
                        [--concurrency C] [--only CASE,...] [--profile CASE]

Postgres is the server named by ``BENCH_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``); the bench creates
``saascore_bench_<random>`` there and drops it at the end. Results are printed and written
to ``bench/results/<db>-<time>.json``; ``--profile CASE`` runs the server under pyinstrument
for that one case and writes ``bench/results/profile-<db>-<case>.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.seed import Caller, Seeded, seed
from entrypoints.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WEBHOOK_SECRET = "whsec_bench_secret"  # noqa: S105 - a throw-away local secret
EVENT = ROOT / "tests" / "fixtures" / "stripe" / "subscription_event_current.json"
UNLIMITED = str(10**9)
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ORDER = (
    *("ceiling", "me", "workspaces", "members"),
    *("audit_10k", "audit_1m", "login_link", "webhook", "me_beside_writes"),
)
TARGETS = {
    "me": 0.30,
    "workspaces": 0.25,
    "audit_10k": 0.15,
    "audit_1m": 0.15,
    "login_link": 0.10,
    "webhook": 0.10,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- databases


@contextmanager
def database(kind: str, folder: Path, postgres_admin: str) -> Iterator[str]:
    """A fresh, empty database of ``kind``; a Postgres one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        return
    admin = make_url(postgres_admin)
    name = f"saascore_bench_{secrets.token_hex(4)}"
    asyncio.run(_postgres(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_postgres(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _postgres(admin: Any, statement: str) -> None:
    import asyncpg  # noqa: PLC0415 - only the Postgres run needs it

    conn = await asyncpg.connect(
        host=admin.host or "127.0.0.1",
        port=admin.port or 5432,
        user=admin.username or "postgres",
        password=admin.password,
        database=admin.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# ------------------------------------------------------------------------- the server


def server_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        # BENCH_PYTHONPATH puts another copy of src/ first: A/B runs of a change.
        PYTHONPATH=os.pathsep.join(filter(None, (os.environ.get("BENCH_PYTHONPATH"), str(ROOT)))),
        ENVIRONMENT="development",
        DATABASE_URL=database_url,
        SECRET_KEY="bench-" + "k" * 40,
        BASE_URL=f"http://127.0.0.1:{port}",
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        EMAIL_BACKEND="stub",
        BILLING_BACKEND="stub",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        # The limiter still counts every request; it just never refuses one.
        RATE_LIMIT_MAX=UNLIMITED,
        RATE_LIMIT_WINDOW_MINUTES="1",
        LOGIN_LINK_LIMIT_PER_IP=UNLIMITED,
        LOGIN_LINK_LIMIT_PER_EMAIL=UNLIMITED,
        WEBHOOK_LIMIT_PER_IP=UNLIMITED,
    )
    env.update(extra)
    return env


@contextmanager
def server(env: dict[str, str], log: Path, profile: Path | None = None) -> Iterator[Any]:
    """``uvicorn --factory bench.app:make_app``, one process, as ``saascore serve`` runs it."""
    port = env["BASE_URL"].rsplit(":", 1)[1]
    uvicorn = ["-m", "uvicorn", "--factory", "bench.app:make_app", "--host", "127.0.0.1"]
    uvicorn += ["--port", port, "--no-proxy-headers", "--no-server-header", "--no-access-log"]
    runner = [sys.executable]
    if profile is not None:
        runner += ["-m", "pyinstrument", "--interval", "0.0005", "-r", "text", "-o", str(profile)]
    with log.open("ab") as out:
        command = runner + uvicorn
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=log.parent)  # noqa: S603
    try:
        _wait_until_up(env["BASE_URL"], process, log)
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited early:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the server did not come up")


def reset_peak_rss(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM (Linux >= 4.0), so each case reports its own peak.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------- the cases


def _get(name: str, path: str, caller: Caller | None = None) -> dict[str, Any]:
    return {"name": name, "method": "GET", "path": path, "cookies": caller.cookie if caller else {}}


def cases(seeded: Seeded) -> dict[str, dict[str, Any]]:
    big, small = seeded.big, seeded.small
    event = json.loads(EVENT.read_text().replace("WORKSPACE_ID", seeded.billing_workspace))
    return {
        "ceiling": _get("ceiling", "/bench/ceiling"),
        "me": _get("me", "/api/me", big),
        "workspaces": _get("workspaces", "/api/workspaces", big),
        "members": _get("members", f"/api/workspaces/{seeded.big_workspace}/members", big),
        "audit_10k": _get(
            "audit_10k", f"/api/workspaces/{seeded.small_workspace}/audit?limit=50", small
        ),
        "audit_1m": _get("audit_1m", f"/api/workspaces/{seeded.big_workspace}/audit?limit=50", big),
        "login_link": {
            "name": "login_link",
            "method": "POST",
            "path": "/api/auth/login-link",
            "body": "login_link",
        },
        # Reads while writes run: on SQLite a GET used to queue for the write turn.
        "me_beside_writes": {
            **_get("me_beside_writes", "/api/me", big),
            "concurrency": 8,
            "alongside": {
                "name": "writes",
                "method": "POST",
                "path": "/api/auth/login-link",
                "body": "login_link",
                "concurrency": 8,
            },
        },
        "webhook": {
            "name": "webhook",
            "method": "POST",
            "path": "/api/billing/webhook",
            "body": "webhook",
            "event": event,
            "secret": WEBHOOK_SECRET,
            # Increasing creation times (one second apart, ending about now): each is applied.
            "created_from": int(time.time()) - 100_000,
        },
    }


def load(base: str, case: dict[str, Any], args: argparse.Namespace, folder: Path) -> Any:
    spec = {
        "run": secrets.token_hex(3),
        "base": base,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "warmup": args.warmup,
        "cases": [case],
    }
    spec_file, out_file = folder / "spec.json", folder / "out.json"
    spec_file.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.load", str(spec_file), str(out_file)], env=env, check=True
    )
    return json.loads(out_file.read_text())[case["name"]]


# ------------------------------------------------------------------------- statement counts

# (case, the small context, the big context): the count must not change between them.
SCALING = {
    "me": ("/api/me", "/api/me", "1 vs 100 workspaces"),
    "workspaces": ("/api/workspaces", "/api/workspaces", "1 vs 100 workspaces"),
    "members": (
        "/api/workspaces/{small}/members",
        "/api/workspaces/{big}/members",
        "1 vs 100 members",
    ),
    "audit": (
        "/api/workspaces/{small}/audit?limit=50",
        "/api/workspaces/{big}/audit?limit=50",
        "10k vs {large} audit rows",
    ),
}


def count_statements(base: str, seeded: Seeded, large: int) -> dict[str, Any]:
    """Statements per request (the third of three, after the session's once-a-minute touch),
    for the small and the big context of each case."""
    counts: dict[str, Any] = {}
    ws = {"small": seeded.small_workspace, "big": seeded.big_workspace}
    with httpx.Client(base_url=base, timeout=30) as client:

        def statements(path: str, caller: Caller) -> list[int]:
            got = []
            for _ in range(3):
                cookie = "; ".join(f"{k}={v}" for k, v in caller.cookie.items())
                r = client.get(path, headers={"Cookie": cookie})
                assert r.status_code < 300, (path, r.status_code, r.text)
                got.append(int(r.headers["x-bench-sql-statements"]))
            return got

        for name, (small_path, big_path, what) in SCALING.items():
            small = statements(small_path.format(**ws), seeded.small)
            big = statements(big_path.format(**ws), seeded.big)
            counts[name] = {"what": what.format(large=f"{large:,}"), "small": small, "big": big}
        link = [
            client.post("/api/auth/login-link", json={"email": f"count{n}@bench.example"})
            for n in range(3)
        ]
        counts["login_link"] = {
            "what": "3 new addresses",
            "small": [int(r.headers["x-bench-sql-statements"]) for r in link],
        }
    return counts


# ------------------------------------------------------------------------- one database


def bench_database(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="saascore-bench-") as tmp:
        folder = Path(tmp)
        with database(kind, folder, args.postgres_url) as url:
            print(
                f"[{kind}] migrating and seeding ({args.large_audit:,} audit rows) ...", flush=True
            )
            started = time.monotonic()
            migrate_env = server_env(url, 8000)
            subprocess.run(
                [sys.executable, "-m", "entrypoints.cli", "db", "upgrade"],
                env=migrate_env,
                cwd=folder,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            settings = load_settings(migrate_env, env_file=None)
            seeded = asyncio.run(seed(url, settings, large_audit=args.large_audit))
            print(f"[{kind}] seeded in {time.monotonic() - started:.0f}s", flush=True)
            return run_cases(kind, url, seeded, args, folder)


def run_cases(
    kind: str, url: str, seeded: Seeded, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    log = folder / "server.log"
    result: dict[str, Any] = {"database": kind, "cases": {}}
    if not args.profile:
        port = free_port()
        with server(server_env(url, port, BENCH_COUNT_SQL="1"), log):
            result["statements"] = count_statements(
                f"http://127.0.0.1:{port}", seeded, args.large_audit
            )
    wanted = [args.profile] if args.profile else [c for c in ORDER if c in args.only]
    port = free_port()
    profile = RESULTS / f"profile-{kind}-{args.profile}.txt" if args.profile else None
    all_cases = cases(seeded)
    with server(server_env(url, port), log, profile) as process:
        base = f"http://127.0.0.1:{port}"
        for name in wanted:
            # The machine is shared: each endpoint is compared with a ceiling measured just
            # before it, so a neighbour's burst skews both sides alike.
            beside = None
            if not args.profile and "ceiling" not in name:
                beside = load(base, {**all_cases["ceiling"], "name": "beside"}, args, folder)
            reset_peak_rss(process.pid)
            outcome = load(base, all_cases[name], args, folder)
            outcome["peak_rss_mb"] = peak_rss_mb(process.pid)
            outcome["ceiling_rps"] = beside["rps"] if beside else outcome["rps"]
            result["cases"][name] = outcome
            print(f"[{kind}] {name:14} {outcome['rps']:8.0f} req/s", flush=True)
    if profile:
        print(f"[{kind}] profile written to {profile}")
    return result


# ------------------------------------------------------------------------- report


def table(result: dict[str, Any]) -> str:
    rows = [
        "| endpoint | req/s | p50 ms | p99 ms | p99/p50 | peak RSS MB | ceiling req/s | ratio"
        " | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, c in result["cases"].items():
        ok = {k: v for k, v in c["statuses"].items() if not k.startswith("2")}
        ratio = c["rps"] / c["ceiling_rps"]
        target = TARGETS.get(name)
        verdict = (
            "" if target is None else f"≥ {target:.2f} {'met' if ratio >= target else 'MISSED'}"
        )
        rows.append(
            f"| {name}{' (errors ' + str(ok) + ')' if ok else ''} | {c['rps']:.0f} | "
            f"{c['p50_ms']:.1f} | {c['p99_ms']:.1f} | {c['p99_ms'] / c['p50_ms']:.1f} | "
            f"{c['peak_rss_mb']:.0f} | {c['ceiling_rps']:.0f} | {ratio:.2f} | {verdict} |"
        )
    cases_ = result["cases"]
    tails = [n for n, c in cases_.items() if c["p99_ms"] > 5 * c["p50_ms"]]
    heavy = [n for n, c in cases_.items() if c["peak_rss_mb"] >= 150]
    rows.append(f"\np99 > 5 x p50: {', '.join(tails) or 'none'}")
    rows.append(f"peak RSS >= 150 MB: {', '.join(heavy) or 'none'}")
    if "audit_10k" in cases_ and "audit_1m" in cases_:
        growth = cases_["audit_1m"]["p50_ms"] / cases_["audit_10k"]["p50_ms"]
        rows.append(f"audit p50 at the large log / at 10k rows: {growth:.2f} (target ≤ 1.5)")
    return "\n".join(rows)


def statements_table(result: dict[str, Any]) -> str:
    rows = ["| endpoint | compared | statements (small) | statements (big) |", "|---|---|---|---|"]
    for name, c in result.get("statements", {}).items():
        big = c.get("big")
        rows.append(f"| {name} | {c['what']} | {c['small']} | {big if big else '—'} |")
    return "\n".join(rows)


def machine() -> dict[str, str]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout  # noqa: S607
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), "?"
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": f"{model}, {os.cpu_count()} CPUs",
        "memory": f"{int(mem) // 1024} MB",
        "python": platform.python_version(),
        "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 requests, 100k audit rows")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--large-audit", type=int)
    parser.add_argument("--only", default=",".join(ORDER), help="comma-separated cases")
    parser.add_argument("--profile", choices=[c for c in ORDER if "ceiling" not in c])
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    args = parser.parse_args(argv)
    args.requests = args.requests or (500 if args.quick else 2000)
    args.warmup = args.warmup if args.warmup is not None else (100 if args.quick else 200)
    args.large_audit = args.large_audit or (100_000 if args.quick else 1_000_000)
    args.only = args.only.split(",")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    RESULTS.mkdir(exist_ok=True)
    host = machine()
    print(f"{host['date']}  {host['cpu']}, {host['memory']}, load {host['load_before']}")
    kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    for kind in kinds:
        result = {**bench_database(kind, args), "machine": host, "args": vars(args)}
        result["machine"]["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        (RESULTS / f"{kind}-{stamp}.json").write_text(json.dumps(result, indent=2))
        if args.profile:
            continue
        print(f"\n## {kind}: {args.requests} requests per endpoint, concurrency {args.concurrency}")
        print(table(result))
        if "statements" in result:
            print(f"\nSQL statements per request ({kind}):")
            print(statements_table(result))
        print()


if __name__ == "__main__":
    main()
