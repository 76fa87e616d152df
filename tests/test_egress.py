"""The egress guard (gateway/egress.py) through the real app: webhook and inline alert URLs
are refused at creation when they reach a loopback, private, link-local, multicast,
unspecified or metadata address, and again at every delivery attempt, which connects to
the address it checked; the history does not tell one failure from another (issue #10).

Names resolve through `Dns` (tests/support_alerts.py), the resolver the app is given: the
outside edge. Deliveries go either to a real receiver on loopback (with loopback allowed
for that evaluator, as an operator would allow an on-premise receiver) or to an
`httpx.MockTransport` under the guard's transport (the network edge).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.egress import EgressGuard, EgressPolicy, EgressRefused, resolve_system
from gateway.services.alert_evaluator import AlertEvaluator
from gateway.settings import Settings
from gateway.storage.events import insert_events
from tests.rest.test_clickstack_alerts import assert_clickstack_error
from tests.support import Clock, Harness, assert_graphql_error, open_harness
from tests.support_alerts import Dns, Receiver

T0 = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
PUBLIC = "93.184.216.34"
PUBLIC6 = "2606:2800:220:1:248:1893:25c8:1946"
HOOKS = "/api/v2/webhooks"
REFUSED = "url must not point to a loopback, private, link-local, multicast or cloud metadata"
LOOPBACK_ONLY = EgressPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))


@pytest.fixture
def settings(new_database: Callable[..., str]) -> Settings:
    """Private targets NOT allowed (the default); fast retries and timeouts."""
    return Settings(database_url=new_database(),
                    secret="test-secret-" + "x" * 32, alerts_enabled=False,
                    webhook_backoff_seconds=0.01, webhook_timeout_seconds=0.3)


@pytest.fixture
def dns() -> Dns:
    return Dns({"hooks.example.com": [PUBLIC], "v6.example.com": [PUBLIC6],
                "internal.test": ["10.1.2.3"], "internal6.test": ["fd00::5"],
                "mixed.test": [PUBLIC, "127.0.0.1"], "metadata-alias.test": ["169.254.169.254"],
                "nat64.test": ["64:ff9b::a00:1"]})


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _post_hook(h: Harness, key: str, url: Any, **extra: Any) -> httpx.Response:
    return await h.client.post(HOOKS, json={"name": "ops", "url": url, **extra},
                               headers=_auth(key))


REFUSED_URLS = [
    # loopback
    "http://127.0.0.1:6379/", "http://127.255.255.254/", "http://[::1]:6379/",
    "http://localhost:8080/", "http://LOCALHOST./", "http://api.localhost/",
    # unspecified, broadcast, this-network, multicast, reserved
    "http://0.0.0.0/", "http://[::]/", "http://0.1.2.3/", "http://255.255.255.255/",
    "http://224.0.0.1/", "http://[ff02::1]/", "http://240.0.0.1/",
    # private, shared (CGNAT), ULA, link-local, site-local, documentation
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://169.254.1.1/", "http://[fe80::1]/",
    "http://[fec0::1]/", "http://192.0.2.10/", "http://[2001:db8::1]/",
    # cloud metadata, by address and by name (168.63.129.16 is not even private)
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
    "http://100.100.100.200/", "http://168.63.129.16/", "http://metadata.google.internal/",
    # IPv4 inside IPv6: mapped, compatible, NAT64, 6to4, Teredo
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[::127.0.0.1]/",
    "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::1]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    # numeric forms inet_aton reads as 127.0.0.1
    "http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://017700000001/",
    "http://0x7f000001/",
    # names that resolve to a refused address (any of their addresses)
    "https://internal.test/hook", "https://internal6.test/", "https://mixed.test/",
    "https://metadata-alias.test/", "https://nat64.test/",
]


ACCEPTED_URLS = [
    f"https://{PUBLIC}/hook", f"http://[{PUBLIC6}]:8443/", "https://hooks.example.com/x",
    "https://HOOKS.example.com./x", "https://v6.example.com/", f"http://[::ffff:{PUBLIC}]/",
    "http://[64:ff9b::5db8:d822]/",  # NAT64 of a public address (DNS64 networks)
    "https://not-yet-published.test/hook",  # does not resolve yet: delivery checks again
]


async def test_creation_refuses_every_private_address_class(harness: Harness) -> None:
    """issue #10: a webhook URL reaching a non-public address is a 400 on `url`, with one
    message whatever the class (the answer says no more about the address). Public
    addresses pass; a name without an address is accepted (delivery checks it again).
    One app for the whole table (an app per row would cost a second each)."""
    key = await harness.mint("alerts:write")
    wrong = []
    for url in REFUSED_URLS:
        response = await _post_hook(harness, key, url)
        if response.status_code != 400 or response.json() != {
                "message": f"Body validation failed: url: {REFUSED} address"}:
            wrong.append((url, response.status_code, response.text[:200]))
    for url in ACCEPTED_URLS:
        response = await _post_hook(harness, key, url)
        if response.status_code != 200 or response.json()["data"]["url"] != url:
            wrong.append((url, response.status_code, response.text[:200]))
    assert wrong == []


UNUSABLE_URLS = [
    ("ftp://hooks.example.com/", "http or https"),
    ("http://user:pw@hooks.example.com/", "user name or password"),
    ("http://hooks.example.com@127.0.0.1/", "user name or password"),
    ("http://hooks.example.com:0/", "port must be 1 to 65535"),
    ("http://hooks.example.com:99999/", "port must be 1 to 65535"),
    ("http:///x", "must have a host"),
    ("http://a b/", "host is not valid"),
    ("http://0177.0.0.1/", "not a valid URL"),
    ("http://999.1.1.1/", "not a valid"),
    ("https://" + "a" * 2040 + ".com/", "at most 2048 characters"),
    (12, "http(s) URL"),
]


async def test_unusable_urls_name_the_problem(harness: Harness) -> None:
    """issue #10: scheme, userinfo, port range and host syntax are checked on the URL as
    httpx would send it, each with its own message."""
    key = await harness.mint("alerts:write")
    wrong = []
    for url, message in UNUSABLE_URLS:
        response = await _post_hook(harness, key, url)
        if response.status_code != 400 or not response.json()["message"].startswith(
                "Body validation failed: url: ") or message not in response.json()["message"]:
            wrong.append((url, response.status_code, response.text[:200]))
    assert wrong == []


async def test_graphql_put_and_inline_channel_are_checked_too(harness: Harness) -> None:
    """issue #10: the same check on GraphQL createWebhook (field error on `url`), on PUT,
    and on an alert's inline channel URL."""
    key = await harness.mint("alerts:write")
    body = await harness.graphql("""mutation { createWebhook(input: {name: "w",
        url: "http://169.254.169.254/"}) { id } }""", key=key)
    assert_graphql_error(body, "INVALID_INPUT")
    [detail] = body["errors"][0]["extensions"]["details"]
    assert detail["path"] == ["url"] and REFUSED in detail["message"]
    hook = (await _post_hook(harness, key, "https://hooks.example.com/x")).json()["data"]
    put = await harness.client.put(f"{HOOKS}/{hook['id']}", json={
        "name": "ops", "url": "http://[::1]:6379/"}, headers=_auth(key))
    assert_clickstack_error(put, 400, f"url: {REFUSED}")
    alert = await harness.client.post("/api/v2/alerts", json={
        "source": "measure", "measure": "core.revenue", "threshold": 1,
        "thresholdType": "above", "interval": "1h",
        "channel": {"type": "webhook", "url": "http://0x7f.1:8080/"}}, headers=_auth(key))
    assert_clickstack_error(alert, 400, f"channel.url: {REFUSED}")


async def _purchase(h: Harness, at: datetime, revenue: float = 500) -> None:
    row = {"pixel_id": h.pixel_id, "name": "purchase", "ts": int(at.timestamp() * 1000),
           "received_at": int(at.timestamp() * 1000), "revenue": revenue,
           "order_id": f"o{at.timestamp()}-{revenue}", "user_id": "u1"}
    async with h.state.db.session() as session:
        await insert_events(session, [row])
        await session.commit()


async def _alert_to(h: Harness, key: str, url: str, *, secret: str | None = None) -> str:
    """An alert that fires in the 11:00-12:00 window (a purchase of 500 is in it)."""
    hook = await _post_hook(h, key, url, **({"secret": secret} if secret else {}))
    assert hook.status_code == 200, hook.text
    created = await h.client.post("/api/v2/alerts", json={
        "source": "measure", "measure": "core.revenue", "threshold": 100,
        "thresholdType": "above", "interval": "1h",
        "channel": {"type": "webhook", "webhookId": hook.json()["data"]["id"]}},
        headers=_auth(key))
    assert created.status_code == 200, created.text
    return str(created.json()["data"]["id"])


class Edge:
    """The network edge under the guard: records what would go on the wire, answers 200."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={})


DUE = T0 + timedelta(hours=1, seconds=1)


async def test_delivery_connects_to_the_checked_address(harness: Harness, dns: Dns) -> None:
    """issue #10: the request goes to the IP the guard checked, with the name kept as Host
    and as TLS SNI; the name is resolved once per attempt, so a later answer (here
    127.0.0.1) is never used."""
    dns.names["pinned.example.com"] = [[PUBLIC], [PUBLIC], ["127.0.0.1"]]
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    await _alert_to(harness, key, "https://pinned.example.com:8443/hook?x=1")
    edge = Edge()
    evaluator = AlertEvaluator(harness.state.db, harness.state.settings,
                               egress=harness.state.egress, transport=edge.transport)
    [result] = await evaluator.evaluate_due(DUE)
    assert result.delivery is not None and result.delivery.ok
    [sent] = edge.requests
    assert sent.url.host == PUBLIC and sent.url.port == 8443
    assert sent.url.path == "/hook" and sent.url.query == b"x=1"
    assert sent.headers["host"] == "pinned.example.com:8443"
    assert sent.extensions["sni_hostname"] == "pinned.example.com"
    assert dns.asked == ["pinned.example.com", "pinned.example.com"]  # creation, delivery


async def test_pinned_connection_over_a_real_socket(harness: Harness, dns: Dns) -> None:
    """issue #10: with the real network transport, the connection goes to the checked
    address: `receiver.test` is known only to the guard's resolver (the system's would
    fail), and the receiver sees the name in Host."""
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    async with Receiver() as receiver:
        dns.names["receiver.test"] = [[PUBLIC], ["127.0.0.1"]]  # creation, then delivery
        await _alert_to(harness, key, f"http://receiver.test:{receiver.port}/hook")
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings,
                                   egress=EgressGuard(LOOPBACK_ONLY, resolver=dns))
        [result] = await evaluator.evaluate_due(DUE)
        assert result.delivery is not None and result.delivery.ok, result.delivery
        [received] = receiver.requests
        assert received.headers["host"] == f"receiver.test:{receiver.port}"
        assert received.path == "/hook"


async def test_delivery_refuses_a_name_that_rebinds(harness: Harness, dns: Dns) -> None:
    """issue #10: a name public at creation and loopback at delivery is refused at every
    attempt, before anything reaches the network edge."""
    dns.names["flip.test"] = [[PUBLIC], ["127.0.0.1"]]
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    await _alert_to(harness, key, "http://flip.test:6379/")
    edge = Edge()
    evaluator = AlertEvaluator(harness.state.db, harness.state.settings,
                               egress=harness.state.egress, transport=edge.transport)
    [result] = await evaluator.evaluate_due(DUE)
    assert result.delivery is not None and not result.delivery.ok
    assert result.delivery.attempts == 3 and "EgressRefused" in (result.delivery.error or "")
    assert "loopback" in (result.delivery.error or "")
    assert edge.requests == []
    assert dns.asked.count("flip.test") == 4  # creation + one per attempt


async def test_private_targets_turned_off_stop_existing_webhooks(
        harness: Harness, settings: Settings, clock: Clock, dns: Dns) -> None:
    """issue #10: a webhook made while private targets were allowed is refused once the
    setting is off (the delivery check does not trust the creation check)."""
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    async with Receiver() as receiver:
        async with open_harness(replace(settings, webhook_allow_private=True), clock,
                                resolver=dns) as allowing:
            await _alert_to(allowing, key, receiver.url)
        evaluator = AlertEvaluator(harness.state.db, settings, egress=harness.state.egress)
        [result] = await evaluator.evaluate_due(DUE)
        assert result.delivery is not None and not result.delivery.ok
        assert receiver.requests == []


async def test_the_setting_allows_private_but_never_metadata(
        settings: Settings, clock: Clock, dns: Dns) -> None:
    """issue #10: GATEWAY_WEBHOOK_ALLOW_PRIVATE=1 lets on-premise receivers in (loopback,
    RFC 1918, ULA, localhost) and still refuses metadata, unspecified and multicast
    addresses; a real delivery to a loopback receiver then works."""
    allowed = replace(settings, webhook_allow_private=True)
    assert Settings.from_environ({"GATEWAY_WEBHOOK_ALLOW_PRIVATE": "1"}).webhook_allow_private
    async with open_harness(allowed, clock, resolver=dns) as h:
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        key = await h.mint("alerts:write")
        for url in ("http://127.0.0.1:9000/", "http://10.0.0.1/", "http://[fd12::1]/",
                    "https://internal.test/", "http://192.168.0.10/"):
            assert (await _post_hook(h, key, url)).status_code == 200, url
        assert (await _post_hook(h, key, "http://localhost:9000/")).status_code == 200
        for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://0.0.0.0/",
                    "http://224.0.0.1/", "http://metadata.google.internal/",
                    "http://[::ffff:169.254.169.254]/", "http://100.100.100.200/"):
            assert_clickstack_error(await _post_hook(h, key, url), 400, REFUSED)
        await _purchase(h, T0 + timedelta(minutes=5))
        async with Receiver() as receiver:
            await _alert_to(h, key, receiver.url)
            evaluator = AlertEvaluator(h.state.db, h.state.settings, egress=h.state.egress)
            [result] = await evaluator.evaluate_due(DUE)
            assert result.delivery is not None and result.delivery.ok
            assert len(receiver.requests) == 1


async def test_allowed_networks_let_in_only_those(settings: Settings, clock: Clock,
                                                  dns: Dns) -> None:
    """issue #10: GATEWAY_WEBHOOK_ALLOW_NETWORKS lists the private ranges allowed; others
    stay refused, and so does `localhost` by name unless it resolves into one."""
    env = {"GATEWAY_WEBHOOK_ALLOW_NETWORKS": " 10.20.0.0/16, fd00:1::/32 "}
    assert Settings.from_environ(env).webhook_allow_networks == ("10.20.0.0/16", "fd00:1::/32")
    allowed = replace(settings, webhook_allow_networks=("10.20.0.0/16", "fd00:1::/32"))
    async with open_harness(allowed, clock, resolver=dns) as h:
        h.organization_id = await h.create_organization()
        h.pixel_id = await h.create_pixel()
        key = await h.mint("alerts:write")
        for url in ("http://10.20.3.4/", "http://[fd00:1::9]/"):
            assert (await _post_hook(h, key, url)).status_code == 200, url
        for url in ("http://10.21.0.1/", "http://127.0.0.1/", "http://localhost/",
                    "http://[fd00:2::1]/"):
            assert_clickstack_error(await _post_hook(h, key, url), 400, REFUSED)
    with pytest.raises(ValueError, match=r"10\.0\.0\.0/33"):
        create_app(replace(settings, webhook_allow_networks=("10.0.0.0/33",)))


class Silent:
    """A server that accepts connections and never answers (the client times out)."""

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.held: list[asyncio.Future[Any]] = []
        self.port = 0

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.held.append(task)
        await self.done.wait()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.done.set()
        self._server.close()
        await asyncio.gather(*self.held, return_exceptions=True)
        await self._server.wait_closed()


async def test_history_does_not_tell_one_failure_from_another(
        harness: Harness, dns: Dns, caplog: pytest.LogCaptureFixture) -> None:
    """issue #10: a target refused by the guard, a name that stopped resolving, a closed
    port, a timeout and a 404 look the same to clients, on REST (executionErrors) and
    GraphQL (history): `failed`, the generic message, the full retry budget. The detail
    is in the server log, without the webhook secret."""
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    async with Receiver() as closed:
        closed_port = closed.port
    async with Silent() as silent, Receiver(statuses=[404]) as gone:
        silent_port = silent.port
        targets = {
            "refused": "http://moved.test/", "unresolved": "http://vanished.test/",
            "closed": f"http://closed.test:{closed_port}/",
            "timeout": f"http://slow.test:{silent_port}/",
            "http404": f"http://gone.test:{gone.port}/"}
        later = {"moved.test": "10.9.9.9", "closed.test": "127.0.0.1",
                 "slow.test": "127.0.0.1", "gone.test": "127.0.0.1"}
        for name in [*later, "vanished.test"]:
            dns.names[name] = [[PUBLIC], [later[name]] if name in later else []]
        alerts = {cause: await _alert_to(harness, key, url, secret="whsec-secret-1234")
                  for cause, url in targets.items()}
        evaluator = AlertEvaluator(harness.state.db, harness.state.settings,
                                   egress=EgressGuard(LOOPBACK_ONLY, resolver=dns))
        with caplog.at_level(logging.WARNING, logger="gateway.alerts"):
            results = await evaluator.evaluate_due(DUE)
    detail = {r.alert_id: (r.delivery.error if r.delivery else None) or "" for r in results}
    causes = {cause: detail[alert_id] for cause, alert_id in alerts.items()}
    assert "EgressRefused" in causes["refused"] and "UnresolvedHost" in causes["unresolved"]
    assert "ConnectError" in causes["closed"] and "Timeout" in causes["timeout"]
    assert "HTTP 404" in causes["http404"]  # five different causes, really

    shown_rest, shown_gql = [], []
    for alert_id in alerts.values():
        body = (await harness.client.get(f"/api/v2/alerts/{alert_id}",
                                         headers=_auth(key))).json()["data"]
        shown_rest.append([{k: v for k, v in e.items() if k != "timestamp"}
                           for e in body["executionErrors"]])
        gql = await harness.graphql("""query($id: ID!) { alert(id: $id) { state
            history { state notified deliveryStatus attempts error } } }""",
                                    {"id": alert_id}, key=key)
        shown_gql.append(gql["data"]["alert"])
    assert shown_rest == [[{"type": "WEBHOOK_ERROR", "message": "webhook delivery failed"}]] * 5
    assert shown_gql == [{"state": "ALERT", "history": [{
        "state": "ALERT", "notified": True, "deliveryStatus": "failed", "attempts": 3,
        "error": "webhook delivery failed"}]}] * 5
    logged = caplog.text
    assert "HTTP 404" in logged and "EgressRefused" in logged
    assert "whsec-secret-1234" not in logged


async def test_redirects_are_not_followed(harness: Harness, dns: Dns) -> None:
    """issue #10: a receiver answering 302 to a metadata address does not get the gateway
    there: one request, recorded as failed."""
    key = await harness.mint("alerts:write")
    await _purchase(harness, T0 + timedelta(minutes=5))
    await _alert_to(harness, key, "https://hooks.example.com/x")
    sent: list[httpx.Request] = []

    def bounce(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/"})

    evaluator = AlertEvaluator(harness.state.db, harness.state.settings,
                               egress=harness.state.egress,
                               transport=httpx.MockTransport(bounce))
    [result] = await evaluator.evaluate_due(DUE)
    assert result.delivery is not None and not result.delivery.ok
    assert [r.url.host for r in sent] == [PUBLIC]


# --- the policy on its own -----------------------------------------------------------------

@hypothesis_settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_ipv4_inside_ipv6_is_judged_as_the_ipv4(value: int) -> None:
    """issue #10: ::ffff:a.b.c.d and 64:ff9b::a.b.c.d are refused exactly when a.b.c.d is."""
    v4 = ipaddress.IPv4Address(value)
    policy = EgressPolicy()
    expected = policy.refusal(v4) is None
    assert (policy.refusal(ipaddress.IPv6Address(f"::ffff:{v4}")) is None) == expected
    assert (policy.refusal(ipaddress.IPv6Address((0x64FF9B << 96) | value)) is None) == expected
    if not expected:  # 6to4 of a refused IPv4 is refused too
        assert policy.refusal(ipaddress.IPv6Address((0x2002 << 112) | (value << 80)))


async def test_the_system_resolver_runs_off_the_loop() -> None:
    """issue #10: the default resolver is getaddrinfo through the loop (here /etc/hosts)."""
    assert "127.0.0.1" in await resolve_system("localhost", 80)
    guard = EgressGuard()
    with pytest.raises(EgressRefused):
        await guard.check("http://localhost/")
