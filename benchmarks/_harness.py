"""Shared benchmark plumbing: live uvicorn servers on loopback and wrk runs.

Every benchmark measures its baseline in the same run and reports ratios: this machine is
shared and noisy, absolute numbers are not comparable across runs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["WrkResult", "bench_tenant", "ensure_postgres_database", "free_port",
           "recreate_postgres_database", "require_wrk", "serve", "wrk"]


def free_port() -> int:
    """A free loopback port: the first free one of `BENCH_PORTS` ("8890-8899") when set (so
    runs sharing a machine keep to their own ports), else one the OS picks."""
    wanted = os.environ.get("BENCH_PORTS")
    candidates = [0]
    if wanted:
        low, _, high = wanted.partition("-")
        candidates = list(range(int(low), int(high or low) + 1))
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in BENCH_PORTS={wanted}")


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        sys.exit("wrk not found: apt-get install wrk (Debian) or brew install wrk")
    return path


@contextmanager
def serve(factory: str, env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """Run `uvicorn --factory <factory>` on a free loopback port; yield its base URL."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115  # open while the server runs; see finally
        prefix="bench-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log",
         "--log-level", "warning"],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/health", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise RuntimeError("server did not start: " + Path(log.name).read_text())
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        os.unlink(log.name)


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, *, seconds: int, connections: int, method: str = "GET",
        headers: dict[str, str] | None = None, body: str | None = None) -> WrkResult:
    """One wrk run (1 thread; the server gets the other core). Non-2xx answers count as errors."""
    lua = [f"wrk.method = {method!r}"]
    for k, v in (headers or {}).items():
        lua.append(f"wrk.headers[{k!r}] = {v!r}")
    if body is not None:
        lua.append("wrk.body = [==[" + body + "]==]")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
             "-s", script.name, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints these lines
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints these lines
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]  # wrk always prints these lines
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return WrkResult(rps, p50, p99, errors)


async def bench_tenant(settings: Any, scopes: list[str], *,
                       owner: tuple[str, str] | None = None) -> tuple[str, str]:
    """A fresh database with one organization, one pixel and a key with `scopes` restricted
    to it (plus an owner user `(email, password)` when given); returns (key, pixel id)."""
    from datetime import UTC, datetime

    from gateway.auth.principal import system_principal
    from gateway.services.keys import create_key
    from gateway.services.tenancy import create_organization, create_pixel
    from gateway.services.users import create_user
    from gateway.storage import Database

    db = Database(settings.database_url)
    await db.migrate()
    now = datetime.now(UTC)
    org = await create_organization(db, "bench", now)
    pixel = await create_pixel(db, org.id, "bench", now)
    key = await create_key(db, settings, system_principal(org.id), name="bench",
                           scopes=scopes, pixel_ids=[pixel.id], now=now)
    if owner is not None:
        await create_user(db, settings, system_principal(org.id), email=owner[0],
                          password=owner[1], role="owner", now=now)
    await db.dispose()
    return key.secret, pixel.id


async def store_demo_events(db: Any, pixel_id: str, *, days: int, end: Any, target: int,
                            report_every: int = 0) -> int:
    """Write ~`target` demo-generator events (~3.2 per session) for `days` days ending at
    `end` in 20,000-row transactions, then ANALYZE; returns how many. Prints progress every
    `report_every` events (0: never)."""
    from sqlalchemy import text

    from gateway.demo import generate_events
    from gateway.storage.events import insert_events

    per_day = max(10, int(target / days / 3.24))
    batch: list[dict[str, object]] = []
    written, t0 = 0, time.perf_counter()

    async def flush() -> None:
        nonlocal written
        async with db.session() as s:
            await insert_events(s, batch)
            await s.commit()
        written += len(batch)
        batch.clear()
        if report_every and written % report_every == 0:
            print(f"  generated {written:>9,} events  ({time.perf_counter() - t0:.0f} s)",
                  flush=True)

    for row in generate_events(pixel_id, days=days, end=end, sessions_per_day=per_day):
        batch.append(row)
        if len(batch) == 20_000:
            await flush()
    if batch:
        await flush()
    async with db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    return written


async def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist (benchmarks keep
    theirs between runs, like their SQLite files)."""
    import asyncpg  # type: ignore[import-untyped]  # ships no type hints
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                  user=parsed.username, password=parsed.password,
                                  database="postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                    parsed.database):
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


async def recreate_postgres_database(url: str) -> None:
    """Drop the PostgreSQL database of `url` if it exists, and create it empty."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                  user=parsed.username, password=parsed.password,
                                  database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()
