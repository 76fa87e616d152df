"""Delivering one notification to one webhook URL: JSON POST, optional HMAC signature,
retries with exponential backoff. Never raises: the outcome is returned for the history.

Signature: when the webhook has a secret, `X-Gateway-Signature-256: sha256=<hex>` is
HMAC-SHA256(secret, raw request body), GitHub's scheme; the receiver recomputes it over the
bytes it received and compares in constant time. `Idempotency-Key` is the same for every
attempt of one notification, so a receiver can drop the duplicates retries may cause
(delivery is at-least-once).

Retried: connection errors, timeouts, 5xx and 429, and refusals by the egress guard (the
client's transport, `gateway/egress.py`: it checks the target again on every attempt, so a
name that rebinds to a private address is refused like a host that is down). Not retried:
other 4xx and redirects (redirects are not followed, so a webhook cannot bounce the gateway
to another host).

The outcome's `error` is detail for the server log (status, exception class and message),
never for clients: the evaluator shows them only `failed`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

__all__ = ["SIGNATURE_HEADER", "Delivery", "deliver", "sign"]

SIGNATURE_HEADER = "X-Gateway-Signature-256"
MAX_BACKOFF = 10.0


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


async def deliver(client: httpx.AsyncClient, url: str, payload: Mapping[str, Any], *,
                  secret: str | None, idempotency_key: str, attempts: int = 3,
                  backoff: float = 1.0, attempt_timeout: float = 10.0,
                  sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Delivery:
    """POST `payload` to `url` up to `attempts` times with `client` (whose transport must
    be the egress guard's). The error text never contains the secret (only statuses,
    exception classes and their messages, which name at most a host and an address)."""
    body = orjson.dumps(dict(payload))
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
               "User-Agent": "gateway-alerts/1"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    error = "not attempted"
    status: int | None = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            response = await client.post(url, content=body, headers=headers,
                                         timeout=attempt_timeout, follow_redirects=False)
        except httpx.HTTPError as exc:
            error, status = f"{type(exc).__name__} on attempt {attempt}: {exc}"[:500], None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return Delivery(ok=True, attempts=attempt, status_code=status)
            error = f"HTTP {status} on attempt {attempt}"
            if not _retryable(status):
                return Delivery(ok=False, attempts=attempt, status_code=status, error=error)
        if attempt < attempts:
            delay = min(MAX_BACKOFF, backoff * 2 ** (attempt - 1))
            # jitter: +-25 %
            await sleep(delay * (0.75 + random.random() / 2))  # noqa: S311  # spreads retries; no secret
    return Delivery(ok=False, attempts=max(1, attempts), status_code=status, error=error)
