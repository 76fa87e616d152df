"""Users, login, logout, cookies and CSRF on the Upstack surface and GraphQL (issue #3)."""

from __future__ import annotations

import httpx

from tests.support import Harness, assert_graphql_error, assert_upstack_error
from tests.support_auth import PASSWORD, add_user, graphql, login

ME = "{ viewer { kind label scopes } }"


def _cookie_header(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert found, response.headers
    return found[0]


async def test_login_returns_token_and_sets_httponly_samesite_cookie(harness: Harness) -> None:
    await add_user(harness, "ada@example.com", "viewer")
    response = await login(harness, "Ada@Example.com")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["email"] == "ada@example.com" and body["user"]["role"] == "viewer"
    assert "password" not in response.text and "argon2" not in response.text
    session = _cookie_header(response, "gateway_session").lower()
    assert "httponly" in session and "samesite=lax" in session
    assert "httponly" not in _cookie_header(response, "gateway_csrf").lower()
    bearer = await harness.graphql(ME, headers={"authorization": f"Bearer {body['token']}"})
    viewer = bearer["data"]["viewer"]
    assert viewer["kind"] == "user" and viewer["label"] == "ada@example.com"
    assert viewer["scopes"] == ["analytics:read", "dashboards:read"]


async def test_wrong_password_and_unknown_email_answer_the_same(harness: Harness) -> None:
    await add_user(harness, "ada@example.com", "viewer")
    wrong = await login(harness, "ada@example.com", "not the password")
    unknown = await login(harness, "bob@example.com")
    assert_upstack_error(wrong, 401, message="Wrong email or password")
    assert wrong.json() == unknown.json()
    gql = await harness.graphql('mutation { login(email: "bob@example.com", password: "x") '
                                "{ token } }")
    assert_graphql_error(gql, "INVALID_CREDENTIALS")


async def test_logout_revokes_the_token(harness: Harness) -> None:
    await add_user(harness, "ada@example.com", "admin")
    token = (await login(harness, "ada@example.com")).json()["token"]
    auth = {"authorization": f"Bearer {token}"}
    assert (await harness.client.get("/accounts/api/users", headers=auth)).status_code == 200
    out = await harness.client.post("/accounts/api/auth/logout", headers=auth)
    assert out.status_code == 200, out.text
    assert 'gateway_session=""' in _cookie_header(out, "gateway_session")
    after = await harness.client.get("/accounts/api/users", headers=auth)
    assert_upstack_error(after, 401, message="Logged out")
    assert_graphql_error(await harness.graphql(ME, headers=auth), "INVALID_SESSION")


async def test_login_token_expires_with_the_clock(harness: Harness) -> None:
    await add_user(harness, "ada@example.com", "viewer")
    token = (await login(harness, "ada@example.com")).json()["token"]
    harness.clock.advance(seconds=harness.state.settings.session_seconds)
    body = await harness.graphql(ME, headers={"authorization": f"Bearer {token}"})
    assert_graphql_error(body, "INVALID_SESSION")


async def test_graphql_login_and_logout_set_and_clear_cookies(harness: Harness) -> None:
    await add_user(harness, "ada@example.com", "member")
    response = await harness.client.post("/graphql", json={"query": (
        f'mutation {{ login(email: "ada@example.com", password: "{PASSWORD}") '
        "{ token csrfToken user { role } } }")})
    payload = response.json()["data"]["login"]
    assert "httponly" in _cookie_header(response, "gateway_session").lower()
    csrf = payload["csrfToken"]
    out = await harness.client.post("/graphql", json={"query": "mutation { logout }"},
                                    headers={"x-csrf-token": csrf})
    assert out.json()["data"]["logout"] is True
    assert 'gateway_session=""' in _cookie_header(out, "gateway_session")


async def test_cookie_reads_need_no_csrf_but_cookie_writes_do(harness: Harness) -> None:
    """CSRF: a write authenticated only by the cookie needs x-csrf-token = the csrf cookie and,
    when Origin is sent, our own origin (issue #3)."""
    await add_user(harness, "ada@example.com", "admin")
    csrf = (await login(harness, "ada@example.com")).json()["csrfToken"]
    client = harness.client  # keeps the login cookies
    assert (await client.get("/accounts/api/users")).status_code == 200
    new_user = {"email": "eve@example.com", "password": PASSWORD, "role": "viewer"}
    refused = await client.post("/accounts/api/users", json=new_user)
    assert_upstack_error(refused, 403, message="x-csrf-token")
    wrong = await client.post("/accounts/api/users", json=new_user,
                              headers={"x-csrf-token": "guess"})
    assert_upstack_error(wrong, 403)
    cross = await client.post("/accounts/api/users", json=new_user, headers={
        "x-csrf-token": csrf, "origin": "https://evil.example"})
    assert_upstack_error(cross, 403, message="Cross-origin")
    gql = await graphql(client, ME)  # a POST: GraphQL over the cookie needs the header too
    assert_graphql_error(gql, "CSRF_FAILED")
    ok = await client.post("/accounts/api/users", json=new_user, headers={
        "x-csrf-token": csrf, "origin": "http://testserver"})
    assert ok.status_code == 201, ok.text
    assert (await graphql(client, ME, headers={"x-csrf-token": csrf}))["data"]["viewer"]


async def test_roles_cannot_escalate(harness: Harness) -> None:
    await add_user(harness, "admin@example.com", "admin")
    await add_user(harness, "member@example.com", "member")
    admin_token = (await login(harness, "admin@example.com")).json()["token"]
    member_token = (await login(harness, "member@example.com")).json()["token"]
    admin = {"authorization": "Bearer " + admin_token}
    member = {"authorization": "Bearer " + member_token}
    owner = await harness.client.post("/accounts/api/users", headers=admin, json={
        "email": "o@example.com", "password": PASSWORD, "role": "owner"})
    assert_upstack_error(owner, 403, message="Only an owner")
    by_member = await harness.client.post("/accounts/api/users", headers=member, json={
        "email": "v@example.com", "password": PASSWORD, "role": "viewer"})
    assert_upstack_error(by_member, 403)
    dup = await harness.client.post("/accounts/api/users", headers=admin, json={
        "email": "member@example.com", "password": PASSWORD, "role": "viewer"})
    assert_upstack_error(dup, 409)
    short = await harness.client.post("/accounts/api/users", headers=admin, json={
        "email": "x@example.com", "password": "short", "role": "viewer"})
    assert_upstack_error(short, 400, fields=["password"])


async def test_keys_minted_by_a_user_record_the_creator(harness: Harness) -> None:
    user_id = await add_user(harness, "member@example.com", "member")
    token = (await login(harness, "member@example.com")).json()["token"]
    auth = {"authorization": f"Bearer {token}"}
    made = await harness.client.post("/accounts/api/api-keys", headers=auth, json={
        "name": "from a person", "scopes": ["analytics:read"]})
    assert made.status_code == 201, made.text
    assert made.json()["apiKey"]["createdBy"] == user_id
    # A member holds no users:admin, so it cannot mint a key with it.
    refused = await harness.client.post("/accounts/api/api-keys", headers=auth, json={
        "name": "x", "scopes": ["users:admin"]})
    assert_upstack_error(refused, 403)
