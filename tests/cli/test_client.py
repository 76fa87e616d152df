"""`gateway serve --demo --workers 2` and `gateway client …` against a live server on
loopback, with the key the demo banner prints (issue #17).

One server for the module, started as a user would (`gateway serve --demo`), with two
workers so /metrics is checked across processes; its banner's export line is what the client
commands run with. Most client commands run in this process (`gateway.cli.main`, the
console script's function: fast); one runs as the installed script.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli import main

# Slow (the fast subset skips it): a live server, demo seeding, a few CLI processes.
pytestmark = pytest.mark.slow

PORTS = range(9400, 9450)  # this work's port range


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in 9400-9449")


def _clean_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEWAY_") and k not in ("KEY", "PIXEL")}
    env["GATEWAY_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    env["COLUMNS"] = "40"  # a narrow terminal: nothing in the banner may wrap
    env["GATEWAY_ALERTS"] = "0"
    return env


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`gateway serve --demo`; yields the environment its export line sets, plus `banner`,
    `log` (the server's output file) and `port`."""
    folder = tmp_path_factory.mktemp("client")
    env = _clean_env(folder / "live.sqlite3")
    port = _free_port()
    log_path = folder / "serve.log"
    log = log_path.open("wb")
    server = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--demo", "--days",
                               "3", "--workers", "2", "--port", str(port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # both workers up
            if log_path.read_text().count("Application startup complete") == 2:
                break
            if server.poll() is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("gateway serve --demo did not come up: " + log_path.read_text())
        banner = log_path.read_text()
        [export] = [line for line in banner.splitlines() if line.startswith("export ")]
        values = dict(re.findall(r"(\w+)=(\S+)", export))
        yield {**env, **values, "banner": banner, "log": str(log_path), "port": str(port)}
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _client(live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`gateway client ARGS` in this process, with the banner's environment."""
    for name in ("GATEWAY_URL", "KEY", "PIXEL"):
        monkeypatch.setenv(name, live[name])
    monkeypatch.setenv("XDG_CONFIG_HOME", str(Path(live["log"]).parent / "no-config"))
    monkeypatch.setenv("COLUMNS", "100")
    code = main(["client", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_banner_lines_paste(live: dict[str, str]) -> None:
    """The export line and the curl line, pasted into bash as printed, read the catalog: one
    line each, unwrapped even in a 40-column terminal (issue #17)."""
    lines = live["banner"].splitlines()
    export = next(line for line in lines if line.startswith("export GATEWAY_URL="))
    curl = next(line for line in lines if line.startswith("curl "))
    assert re.fullmatch(r"export GATEWAY_URL=http://127\.0\.0\.1:\d+ KEY=upstack_\w+ "
                        r"PIXEL=[0-9a-f-]{36}", export), export
    env = {k: v for k, v in os.environ.items() if k not in ("KEY", "PIXEL", "GATEWAY_URL")}
    result = subprocess.run(["bash", "-c", f"set -e\n{export}\n{curl} --fail"], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["measures"]) > 30


def test_access_log_lines_and_no_uvicorn_access_log(live: dict[str, str]) -> None:
    """`gateway serve` prints our access line per request, with the key's prefix, and not
    uvicorn's own (issue #17)."""
    rid = "trace-me-17"
    httpx.get(f"{live['GATEWAY_URL']}/db-mgmt/api/measures", headers={
        "x-api-key": live["KEY"], "x-request-id": rid})
    deadline = time.monotonic() + 5
    while rid not in Path(live["log"]).read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = Path(live["log"]).read_text()
    [line] = [x for x in logged.splitlines() if rid in x]
    assert "method=GET path=/db-mgmt/api/measures status=200" in line
    assert f"key={live['KEY'][:14]} " in line and live["KEY"] not in line
    assert '"GET /db-mgmt/api/measures HTTP/1.1" 200' not in logged  # uvicorn's format


def test_a_second_serve_on_a_taken_port_mints_nothing(live: dict[str, str]) -> None:
    """The port is checked before seeding or minting: a second `serve --demo` on the same
    port exits 2 naming the port, and the keys are as they were (issue #17)."""
    keys = f"{live['GATEWAY_URL']}/accounts/api/api-keys"

    def listed() -> list[tuple[str, str | None]]:  # lastUsedAt moves as the key is used
        found = httpx.get(keys, headers={"x-api-key": live["KEY"]}).json()["apiKeys"]
        return [(k["id"], k.get("revokedAt")) for k in found]

    before = listed()
    result = subprocess.run([sys.executable, "-m", "gateway", "serve", "--demo", "--days", "3",
                             "--port", live["port"]], env=live, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{live['port']}: already in use" in result.stderr
    after = listed()
    assert after == before and len(after) == 1


def test_measures_with_title_search(live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _client(live, monkeypatch, capsys, "measures", "--search", "roas")
    assert code == 0
    assert "core.new_customer_roas" in out and "NC ROAS" in out and "measures matching" in out
    code, out, _ = _client(live, monkeypatch, capsys, "measures", "--search", "ROAS",
                           "--format", "json")
    assert code == 0 and {m["key"] for m in json.loads(out)} >= {"core.roas", "meta.roas"}
    code, out, _ = _client(live, monkeypatch, capsys, "measures", "--format", "csv")
    header, *rows = out.splitlines()
    assert code == 0 and header == "key,title,format,category" and len(rows) > 30


def test_query_table_with_sparklines_json_and_csv(
        live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Measures by key or title, a table with a sparkline per measure, the same as JSON and
    CSV; a body from a file, with flags replacing its fields (issue #17)."""
    args = ("query", "--measure", "core.revenue", "--measure", "NC ROAS", "--range",
            "last_7_days")
    code, out, err = _client(live, monkeypatch, capsys, *args)
    assert code == 0, err
    assert "core.new_customer_roas" in out  # the title resolved to its key
    trend = [line for line in out.splitlines() if line.lstrip().startswith("core.revenue")]
    assert re.search("[▁▂▃▄▅▆▇█]{3,}", trend[0]), out
    code, out, _ = _client(live, monkeypatch, capsys, *args, "--format", "json")
    [result] = json.loads(out)["results"]
    assert code == 0 and len(result["data"]["primary"]) == 7
    code, out, _ = _client(live, monkeypatch, capsys, *args, "--format", "csv")
    lines = out.splitlines()
    assert lines[0] == "dt,core.revenue,core.new_customer_roas" and len(lines) == 8

    body = tmp_path / "q.json"
    body.write_text(json.dumps({"measures": ["web.sessions"], "granularity": "none",
                                "dateRange": {"preset": "last_30_days"}}))
    code, out, _ = _client(live, monkeypatch, capsys, "query", "--file", str(body),
                           "--dimension", "utm_source", "--format", "json")
    [result] = json.loads(out)["results"]
    assert code == 0 and result["dimensions"] == ["utm_source"]
    assert result["granularity"] == "none" and len(result["data"]["primary"]) > 2


def test_query_errors_name_flags(live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _client(live, monkeypatch, capsys, "query", "--measure", "nope.nope",
                           "--range", "last_7_days")
    assert code == 1 and "HTTP 400" in err and "--measure: unknown measure" in err
    code, _, err = _client(live, monkeypatch, capsys, "query", "--measure", "core.revenue")
    assert code == 2 and "--from and --to" in err
    code, _, err = _client(live, monkeypatch, capsys, "query", "--measure", "core.revenue",
                           "--from", "2026-11-01")
    assert code == 2 and "--from and --to go together" in err


def test_views_create_list_show(live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The Upstack quickstart (three measures -> a KPI view) as one command (issue #17)."""
    code, out, err = _client(live, monkeypatch, capsys, "views", "create", "--name",
                             "NC + Meta Pulse", "--measure", "core.new_customer_roas",
                             "--measure", "NC MER", "--measure", "meta.cpm", "--format", "json")
    assert code == 0, err
    view = json.loads(out)
    widgets = view["configuration"]["widgets"]
    assert [w["dataConfig"]["measures"] for w in widgets] == [
        ["core.new_customer_roas"], ["core.new_customer_mer"], ["meta.cpm"]]
    code, out, _ = _client(live, monkeypatch, capsys, "views", "list")
    assert code == 0 and view["id"] in out and "NC + Meta Pulse" in out
    code, out, _ = _client(live, monkeypatch, capsys, "views", "show", view["id"])
    assert code == 0 and "NC + Meta Pulse" in out and "meta.cpm" in out
    assert "sparkline" in out
    code, _, err = _client(live, monkeypatch, capsys, "views", "show", "no-such-view")
    assert code == 1 and "HTTP 404" in err


def test_credentials_from_a_private_config_file(
        live: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`configure` writes the file 0600; a command reads it when the environment is empty;
    a file others can read is narrowed to 0600 before it is read (issue #17)."""
    path = tmp_path / "conf" / "client.toml"
    code, _, err = _client(live, monkeypatch, capsys, "configure", "--config", str(path))
    assert code == 0, err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert live["KEY"] in path.read_text()
    for name in ("GATEWAY_URL", "KEY", "PIXEL"):
        monkeypatch.delenv(name)
    path.chmod(0o644)
    assert main(["client", "measures", "--search", "cpm", "--config", str(path)]) == 0
    assert "meta.cpm" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    assert main(["client", "measures"]) == 2
    assert "export GATEWAY_URL=" in capsys.readouterr().err
    assert main(["client", "measures", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["client", "measures", "--url", live["GATEWAY_URL"], "--key",
                 "upstack_wrong"]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and "the key came from --key" in err


def test_the_console_script_runs_the_client(live: dict[str, str]) -> None:
    """The installed entry point, as a process: output to a pipe, exit status 0."""
    result = subprocess.run([sys.executable, "-m", "gateway", "client", "views", "list",
                             "--format", "csv"], env=live, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "id,name,type,widgets"


def _health_requests(text: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == "gateway_http_requests_total" and s.labels["route"] == "/health")


def test_metrics_are_summed_over_the_workers(live: dict[str, str]) -> None:
    """With `--workers 2` a scrape reaches either worker and answers the sum over both
    (prometheus_client's multiprocess mode): every scrape agrees (issue #17)."""
    url = live["GATEWAY_URL"]
    before = _health_requests(httpx.get(f"{url}/metrics").text)
    for _ in range(40):  # a new connection each: the kernel spreads them over the workers
        assert httpx.get(f"{url}/health").status_code == 200
    seen = [_health_requests(httpx.get(f"{url}/metrics").text) for _ in range(6)]
    assert seen == [before + 40] * 6, (before, seen)
