"""Settings the gateway refuses to start with, and the login limits' variables (issue #10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.settings import MIN_SECRET_BYTES, ClientEnvironment, Settings, SettingsError


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


def test_operations_settings_come_from_the_environment() -> None:
    """Access log, metrics, their token and the multiprocess directory (issue #17)."""
    defaults = Settings.from_environ({})
    assert (defaults.access_log, defaults.metrics, defaults.metrics_token) == (True, True, "")
    assert Settings().access_log and Settings().metrics
    read = Settings.from_environ({"GATEWAY_ACCESS_LOG": "0", "GATEWAY_METRICS": "off",
                                  "GATEWAY_METRICS_TOKEN": "tok", "PROMETHEUS_MULTIPROC_DIR":
                                  "/run/gw-metrics"})
    assert (read.access_log, read.metrics, read.metrics_token,
            read.metrics_multiprocess_dir) == (False, False, "tok", "/run/gw-metrics")
    assert "tok" not in repr(read)


def test_client_environment() -> None:
    """`gateway client` reads GATEWAY_KEY before KEY, GATEWAY_PIXEL before PIXEL, and finds
    its config under XDG_CONFIG_HOME, else ~/.config (issue #17)."""
    env = ClientEnvironment.from_environ({"GATEWAY_URL": "http://g", "KEY": "k1",
                                          "PIXEL": "p1", "HOME": "/home/u"})
    assert (env.url, env.key, env.pixel, env.config_home) == ("http://g", "k1", "p1",
                                                              "/home/u/.config")
    both = ClientEnvironment.from_environ({"GATEWAY_KEY": "k2", "KEY": "k1",
                                           "GATEWAY_PIXEL": "p2", "XDG_CONFIG_HOME": "/x"})
    assert (both.key, both.pixel, both.config_home) == ("k2", "p2", "/x")


def test_query_limits_come_from_the_environment_and_reach_the_database() -> None:
    """The time limit and the caps of heavy work (issue #12): read from the environment,
    defaults documented in README, and handed to the database by the app."""
    from gateway.storage.heavy import HeavyLimits

    settings = Settings.from_environ({
        "GATEWAY_QUERY_TIMEOUT_SECONDS": "2.5", "GATEWAY_QUERY_CONCURRENCY": "8",
        "GATEWAY_QUERY_PIXEL_CONCURRENCY": "3", "GATEWAY_QUERY_CONNECTIONS": "2",
        "GATEWAY_QUERY_QUEUE_SECONDS": "1", "GATEWAY_QUERY_QUEUE_DEPTH": "4"})
    assert settings.heavy_limits == HeavyLimits(timeout_seconds=2.5, concurrency=8,
                                                 pixel_concurrency=3, connections=2,
                                                 queue_seconds=1.0, queue_depth=4)
    assert Settings.from_environ({}).heavy_limits == HeavyLimits() == HeavyLimits(
        timeout_seconds=5.0, concurrency=4, pixel_concurrency=2, connections=3,
        queue_seconds=5.0, queue_depth=16)


@pytest.mark.parametrize(("variable", "value"), [
    ("GATEWAY_QUERY_TIMEOUT_SECONDS", "0"), ("GATEWAY_QUERY_CONCURRENCY", "0"),
    ("GATEWAY_QUERY_PIXEL_CONCURRENCY", "0"), ("GATEWAY_QUERY_CONNECTIONS", "0"),
    ("GATEWAY_QUERY_QUEUE_SECONDS", "-1"), ("GATEWAY_QUERY_QUEUE_DEPTH", "-1")])
def test_query_limits_out_of_range_are_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_environ({variable: value})
