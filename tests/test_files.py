"""The database, its WAL and shared-memory files, the generated secret and the revocation
signal are private to the gateway's user: created 0600, narrowed to 0600 on start when they
were wider, with a warning (issue #10).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.files import write_private_once
from gateway.settings import Settings
from tests.support import Clock, Harness

pytestmark = pytest.mark.sqlite_only("the modes of the SQLite database file and the files "
                                     "beside it")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask most systems start processes with: files are 0644 unless we say otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


SUFFIXES = ("", "-wal", "-shm", ".secret", ".revocations")


async def _use_the_gateway(db: Path) -> dict[str, str]:
    """Start the app on `db` with no configured secret, write and authenticate once (so the
    WAL, shared-memory, secret and revocation files all exist); return their modes, taken
    while the app runs (SQLite removes the WAL when the last connection closes)."""
    clock = Clock()
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{db}"), clock=clock)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url="http://t") as client):
        h = Harness(client=client, state=app.state.gateway, clock=clock)
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        key = await h.mint("keys:read")
        for _ in range(2):  # the second is a cache hit: it reads the revocation signal
            answer = await client.get("/accounts/api/api-keys", headers={"x-api-key": key})
            assert answer.status_code == 200, answer.text
        files = [db.with_name(db.name + suffix) for suffix in SUFFIXES]
        assert all(f.exists() for f in files), [f for f in files if not f.exists()]
        return {f.name: oct(_mode(f)) for f in files}


@pytest.mark.usefixtures("open_umask")
async def test_files_are_created_0600(tmp_path: Path) -> None:
    """Under a 022 umask, every file beside the database is created owner-only."""
    modes = await _use_the_gateway(tmp_path / "data" / "gateway.db")
    assert modes == dict.fromkeys(modes, "0o600")


@pytest.mark.usefixtures("open_umask")
async def test_wider_existing_files_are_narrowed_on_start_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Files left 0644 (or 0666) by an older version, WAL and shared memory included (as a
    crash leaves them), are narrowed to 0600 when the gateway starts; each change is logged."""
    db = tmp_path / "gateway.db"
    await _use_the_gateway(db)
    files = [db.with_name(db.name + suffix) for suffix in SUFFIXES]
    for f in files:
        f.touch()  # the WAL and shared memory went at shutdown: left over from a crash
        f.chmod(0o644)
    db.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="gateway.files"):
        modes = await _use_the_gateway(db)
    assert modes == dict.fromkeys(modes, "0o600")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{db} was accessible to other users (mode 0666); changed to 0600" in logged
    for f in files[1:]:
        assert f"{f} was accessible to other users (mode 0644); changed to 0600" in logged


def test_the_generated_secret_is_written_once(tmp_path: Path) -> None:
    """Two processes generating the secret at once agree on the first one written; the
    file is never seen half-written and no temporary file is left."""
    path = tmp_path / "g.db.secret"
    assert write_private_once(path, "first\n") == "first\n"
    assert write_private_once(path, "second\n") == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["g.db.secret"]
    assert _mode(path) == 0o600
