"""Login tokens: only our own, unexpired, not logged-out JWTs authenticate (issue #3)."""

from __future__ import annotations

import jwt
import pytest

from tests.support import Harness, assert_graphql_error
from tests.support_auth import add_user, login

ME = "{ viewer { kind label } }"


async def _token(h: Harness) -> str:
    await add_user(h, "ada@example.com", "viewer")
    token: str = (await login(h, "ada@example.com")).json()["token"]
    h.client.cookies.clear()
    return token


def _forge(token: str, secret: str, algorithm: str = "HS256", **changes: object) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode({**claims, **changes}, secret, algorithm=algorithm)


@pytest.mark.parametrize("forge", [
    pytest.param(lambda t, s: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
                 id="tampered-signature"),
    pytest.param(lambda t, s: _forge(t, "another-secret-" + "y" * 32), id="other-secret"),
    pytest.param(lambda t, s: _forge(t, s, sub="someone-else"), id="other-user"),
    pytest.param(lambda t, s: _forge(t, s, jti="no-such-session"), id="unknown-session"),
    pytest.param(lambda t, s: _forge(t, s, aud="elsewhere"), id="other-audience"),
    pytest.param(lambda t, s: ".".join(t.split(".")[:2]) + ".", id="signature-stripped"),
])
async def test_forged_tokens_are_refused(harness: Harness, forge: object) -> None:
    token = await _token(harness)
    bad = forge(token, harness.state.settings.secret)  # type: ignore[operator]  # each param is a (token, secret) -> str lambda
    body = await harness.graphql(ME, headers={"authorization": f"Bearer {bad}"})
    assert_graphql_error(body, "INVALID_SESSION")


async def test_a_bearer_token_of_no_known_kind_is_an_invalid_key(harness: Harness) -> None:
    body = await harness.graphql(ME, headers={"authorization": "Bearer not-a-key-or-token"})
    assert_graphql_error(body, "INVALID_API_KEY")


async def test_the_real_token_works(harness: Harness) -> None:
    token = await _token(harness)
    body = await harness.graphql(ME, headers={"authorization": f"Bearer {token}"})
    assert body["data"]["viewer"] == {"kind": "user", "label": "ada@example.com"}
