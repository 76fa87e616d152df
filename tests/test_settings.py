"""Settings the gateway refuses to start with, and the login limits' variables (issue #10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.settings import MIN_SECRET_BYTES, Settings, SettingsError


@pytest.mark.parametrize("secret", ["x", "s" * 31, "é" * 15, " " * 20])
def test_a_secret_shorter_than_32_bytes_is_refused(secret: str) -> None:
    """GATEWAY_SECRET under 32 bytes (not characters) is refused, wherever Settings are
    built: from the environment, directly, and so by create_app (issue #10)."""
    with pytest.raises(SettingsError, match=r"GATEWAY_SECRET is .* bytes; it must be at least 32"):
        Settings.from_environ({"GATEWAY_SECRET": secret})
    with pytest.raises(SettingsError):
        create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret=secret))


@pytest.mark.parametrize("secret", ["s" * 32, "é" * 16])
def test_a_secret_of_32_bytes_is_accepted(secret: str) -> None:
    assert len(secret.encode()) == MIN_SECRET_BYTES
    assert Settings.from_environ({"GATEWAY_SECRET": secret}).secret == secret


def test_unset_secret_is_generated_long_and_a_short_secret_file_is_refused(
        tmp_path: Path) -> None:
    """No GATEWAY_SECRET: the generated one is long; a secret file someone shortened is
    refused, naming the file (issue #10)."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    assert len(settings.with_secret().secret.encode()) >= 48
    (tmp_path / "g.db.secret").write_text("short\n")
    with pytest.raises(SettingsError, match=r"the secret in .*g\.db\.secret is 5 bytes"):
        settings.with_secret()


@pytest.mark.slow  # a CLI process
def test_cli_refuses_a_short_secret_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    """`gateway` prints the refusal as `error: ...` and exits 2 (issue #10)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
               GATEWAY_SECRET="x")
    result = subprocess.run([sys.executable, "-m", "gateway", "migrate"], check=False, env=env,
                            text=True, capture_output=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: GATEWAY_SECRET is 1 bytes; it must be at least 32")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "g.db").exists()  # refused before touching anything


def test_login_limits_come_from_the_environment() -> None:
    settings = Settings.from_environ({
        "GATEWAY_LOGIN_ACCOUNT_BURST": "5", "GATEWAY_LOGIN_ACCOUNT_INTERVAL": "120",
        "GATEWAY_LOGIN_ADDRESS_BURST": "50", "GATEWAY_LOGIN_ADDRESS_INTERVAL": "2.5",
        "GATEWAY_LOGIN_CONCURRENCY": "3", "GATEWAY_LOGIN_QUEUE_SECONDS": "0.5"})
    assert (settings.login_account_burst, settings.login_account_interval_seconds,
            settings.login_address_burst, settings.login_address_interval_seconds,
            settings.login_concurrency, settings.login_queue_seconds) == (5, 120.0, 50, 2.5,
                                                                          3, 0.5)
    defaults = Settings.from_environ({})
    assert defaults.login_account_burst == Settings().login_account_burst == 10


def test_postgresql_without_a_secret_is_refused() -> None:
    """Issue #16: with a database that has no place for a generated secret, each process
    invented its own, and each refused the others' keys; now nothing starts without one,
    and the message says what to do."""
    settings = Settings(database_url="postgresql+asyncpg://db.internal/gateway")
    with pytest.raises(SettingsError, match=r"GATEWAY_SECRET is required with PostgreSQL: "
                                            r"every process must hash API keys"):
        settings.with_secret()
    with pytest.raises(SettingsError, match="GATEWAY_SECRET is required"):
        create_app(settings)
    assert Settings(database_url=settings.database_url, secret="s" * 32).with_secret()


@pytest.mark.slow  # CLI processes
def test_serve_with_workers_needs_a_configured_secret(tmp_path: Path) -> None:
    """Issue #16: `gateway serve --workers 2` without GATEWAY_SECRET exits 2 with the reason
    before anything starts (on PostgreSQL, so does every command)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    result = subprocess.run([sys.executable, "-m", "gateway", "serve", "--workers", "2"],
                            check=False, env=env, text=True, capture_output=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: GATEWAY_SECRET is required for gateway serve "
                                    "--workers 2: every process must hash API keys")
    assert not (tmp_path / "g.db").exists()  # refused before touching anything
    env["GATEWAY_DATABASE_URL"] = "postgresql+asyncpg://127.0.0.1:1/nowhere"
    migrate = subprocess.run([sys.executable, "-m", "gateway", "migrate"], check=False,
                             env=env, text=True, capture_output=True, timeout=120)
    assert migrate.returncode == 2
    assert migrate.stderr.startswith("error: GATEWAY_SECRET is required with PostgreSQL")


async def test_pool_comes_from_the_environment() -> None:
    """Issue #16: the PostgreSQL pool was fixed at 10 + 20 connections per process (three
    processes filled a default server); its size, overflow and timeouts are settings."""
    from gateway.storage import Database

    settings = Settings.from_environ({
        "GATEWAY_DATABASE_URL": "postgresql+asyncpg://db.internal/gateway",
        "GATEWAY_DB_POOL_SIZE": "3", "GATEWAY_DB_MAX_OVERFLOW": "2",
        "GATEWAY_DB_POOL_TIMEOUT": "4.5", "GATEWAY_DB_POOL_RECYCLE": "600",
        "GATEWAY_DB_CONNECT_TIMEOUT": "7", "GATEWAY_DB_PGBOUNCER": "1"})
    db = Database.for_settings(settings)  # no connection is opened until one is used
    try:
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout, pool._recycle) == (  # type: ignore[attr-defined]  # QueuePool's own
            3, 2, 4.5, 600.0)
        assert db.pool.connect_timeout == 7.0 and db.pool.pgbouncer
        defaults = Database.for_settings(Settings(database_url=settings.database_url))
        assert (defaults.engine.pool.size(), defaults.engine.pool._max_overflow) == (5, 5)  # type: ignore[attr-defined]  # QueuePool's own
        await defaults.dispose()
    finally:
        await db.dispose()
