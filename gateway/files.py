"""Files the gateway keeps beside its SQLite database are private to the user running it.

The database (with its `-wal` and `-shm` files), the generated `<db>.secret` and the
`<db>.revocations` signal hold, or guard, keys' hashes, webhook secrets, users' password
hashes and the server's own secret: they are created with mode 0600, and an existing file
that group or others can read is narrowed to 0600 when the gateway opens it, with a warning.

The process umask is left alone (it is the operator's, and covers files we do not own);
each file is created with an explicit mode instead. SQLite creates `-wal` and `-shm` with the
mode of the database file, so creating that one 0600 first covers all three.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["PRIVATE_MODE", "create_private", "ensure_private", "write_private_once"]

log = logging.getLogger("gateway.files")

PRIVATE_MODE = 0o600


def ensure_private(path: Path) -> bool:
    """Narrow `path` to owner-only access if group or others have any; True when changed.
    A missing file is left missing; a file we may not chmod is logged and left as is."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not mode & 0o077:
        return False
    try:
        path.chmod(mode & 0o700)
    except OSError as exc:
        log.warning("%s is accessible to other users (mode %04o) and could not be made "
                    "private: %s", path, mode, exc)
        return False
    log.warning("%s was accessible to other users (mode %04o); changed to %04o", path, mode,
                mode & 0o700)
    return True


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (then make it private). A missing
    directory is left missing, for whoever opens the file next to report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        ensure_private(path)
        return
    except FileNotFoundError:
        return
    os.close(fd)


def write_private_once(path: Path, text: str) -> str:
    """Write `text` to a new file `path` (mode 0600) unless it exists; return the file's text.

    Atomic across processes: the text goes to a private temporary file that is then hard
    linked into place, so two processes starting at once agree on one value and no reader
    ever sees a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an old temporary file may have had another mode
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)
    except FileExistsError:
        ensure_private(path)
    finally:
        temporary.unlink()
    return path.read_text()
