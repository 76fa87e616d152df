"""Where `gateway client` finds the gateway and its credentials.

Each of url, key and pixel comes from the first of:

1. the flag (`--url`, `--key`, `--pixel`);
2. the environment: `GATEWAY_URL`, `GATEWAY_KEY` (or `KEY`), `GATEWAY_PIXEL` (or `PIXEL`):
   the `export` line `gateway serve --demo` prints sets these;
3. the config file: `--config PATH`, else `$XDG_CONFIG_HOME/gateway/client.toml`
   (`~/.config/gateway/client.toml`), with top-level `url`, `key` and `pixel` strings.

The file holds a secret, so `gateway client configure` writes it mode 0600, and one that
group or others can read is narrowed to 0600 with a warning before it is read (as the
server does with its own secret file, gateway/files.py). A `--config` file that does not
exist is an error; the default one may be absent.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from gateway.files import ensure_private
from gateway.settings import ClientEnvironment

__all__ = ["ClientConfig", "ConfigError", "default_config_path", "load_config", "save_config"]

FIELDS = ("url", "key", "pixel")


class ConfigError(Exception):
    """A problem with the client's configuration: printed as `error: ...`, exit status 2."""


@dataclass(frozen=True)
class ClientConfig:
    url: str
    key: str
    pixel: str  # "" when the key reaches one pixel (the server then picks it)
    source: str  # where the key came from, for error messages: "--key", "KEY", a path


def default_config_path(env: ClientEnvironment) -> Path | None:
    return Path(env.config_home) / "gateway" / "client.toml" if env.config_home else None


def _read_file(path: Path) -> dict[str, str]:
    ensure_private(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    bad = [k for k in FIELDS if k in data and not isinstance(data[k], str)]
    if bad:
        raise ConfigError(f"{path}: {', '.join(bad)} must be strings")
    return {k: str(data[k]) for k in FIELDS if k in data}


def load_config(env: ClientEnvironment, *, url: str | None, key: str | None,
                pixel: str | None, config: str | None) -> ClientConfig:
    """The configuration for one command (module docstring); ConfigError when the URL or
    the key is found nowhere, or the file cannot be read."""
    path = Path(config).expanduser() if config else default_config_path(env)
    if config and path is not None and not path.is_file():
        raise ConfigError(f"--config {config}: no such file")
    stored = _read_file(path) if path is not None and path.is_file() else {}
    where = str(path) if stored else ""
    chosen: dict[str, tuple[str, str]] = {}
    for name, flag, value, from_env, env_name in (
            ("url", "--url", url, env.url, "GATEWAY_URL"),
            ("key", "--key", key, env.key, "GATEWAY_KEY or KEY"),
            ("pixel", "--pixel", pixel, env.pixel, "GATEWAY_PIXEL or PIXEL")):
        if value:
            chosen[name] = (value, flag)
        elif from_env:
            chosen[name] = (from_env, env_name)
        elif stored.get(name):
            chosen[name] = (stored[name], where)
    missing = [n for n in ("url", "key") if n not in chosen]
    if missing:
        hint = ("export GATEWAY_URL=… KEY=… PIXEL=… (the line `gateway serve --demo` prints), "
                "or run `gateway client configure`")
        flags = " and ".join(f"--{n}" for n in missing)
        raise ConfigError(f"no {' or '.join(missing)}: give {flags}, or {hint}")
    return ClientConfig(url=chosen["url"][0].rstrip("/"), key=chosen["key"][0],
                        pixel=chosen.get("pixel", ("", ""))[0], source=chosen["key"][1])


def save_config(path: Path, values: dict[str, str]) -> None:
    """Write the config file, mode 0600 from its creation (never readable by others, not
    even for a moment), replacing any earlier one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # JSON strings are TOML basic strings (the same escapes), so this quotes any value.
    text = "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items() if v)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # an existing .tmp kept its old mode
    os.replace(tmp, path)
