"""The egress guard: every request the gateway sends to an address a client gave it
(webhooks, inline alert channels) goes through `EgressGuard`, so the gateway never reaches
an address its operator did not allow.

For each request, and again for each retry:
1. Parse the URL as httpx will send it: http or https, a host, no userinfo, port 1-65535.
   Numeric hosts in the legacy forms `inet_aton` accepts (`2130706433`, `0x7f.1`, `127.1`)
   are read as the IPv4 address they spell, so no resolver gets to interpret them.
2. Resolve the host (the event loop's resolver, i.e. `getaddrinfo` in a worker thread; a
   resolver can be passed in). Every address must pass, not just the first.
3. Check each address (`EgressPolicy.refusal`): the IPv4 inside IPv4-mapped, -compatible,
   NAT64, 6to4 and Teredo forms is checked too. Refused always: unspecified, multicast,
   broadcast, "this network" (0/8) and cloud metadata addresses (`METADATA_NETWORKS`).
   Refused unless the operator allows private targets (`allow_private`, or an
   `allow_networks` CIDR that contains it): anything not globally reachable: loopback,
   RFC 1918, CGNAT 100.64/10, link-local, ULA fc00::/7, site-local, documentation,
   benchmarking and reserved ranges (`ipaddress`'s properties plus `_NOT_GLOBAL`).
4. Connect to the address that was checked (`GuardedTransport`): the request goes out with
   its URL's host replaced by that IP, the original `Host` header, and for https the
   original name as TLS SNI and certificate name (httpcore's `sni_hostname`), so a second
   DNS answer (rebinding) is never used. Keep-alive is off in the default inner transport:
   a pooled connection is keyed by IP and must not carry another name's request.

Redirects are not followed by callers; if one were, the next hop would pass through the
transport, hence the guard, again. A refusal is an `EgressRefused` (an httpx
TransportError, so callers treat it like a connection failure); its message is for the
server log, never for the client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

from gateway.settings import Settings

__all__ = [
    "METADATA_NETWORKS",
    "EgressGuard",
    "EgressPolicy",
    "EgressRefused",
    "GuardedTransport",
    "Resolver",
    "Target",
    "UnresolvedHost",
    "resolve_system",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> addresses (strings); raises OSError (or returns nothing) for an unknown name
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_net = ipaddress.ip_network

# Instance metadata and platform endpoints: refused even when private targets are allowed
# (an on-premise receiver is never one of these). Some are not private at all (Azure's).
METADATA_NETWORKS: tuple[IPNetwork, ...] = (
    _net("169.254.169.0/24"),    # AWS/GCP/Azure/OpenStack/DO/Oracle IMDS .254, AWS DNS/NTP
    _net("169.254.170.0/24"),    # AWS ECS task metadata (.2), EKS pod identity (.23)
    _net("100.100.100.200/32"),  # Alibaba Cloud
    _net("168.63.129.16/32"),    # Azure WireServer (a public address)
    _net("192.0.0.192/32"),      # Oracle Cloud (legacy)
    _net("fd00:ec2::/32"),       # AWS IMDS/DNS/NTP over IPv6 (fd00:ec2::254, ::253, ::123)
)
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "metadata.goog",
                             "instance-data", "instance-data.ec2.internal"})
_NEVER_V4 = (_net("0.0.0.0/8"), _net("255.255.255.255/32"))
# Not globally reachable, beyond what this Python's `ipaddress.is_global` knows (its lists
# changed across patch releases; these are listed so the result does not depend on them).
_NOT_GLOBAL: tuple[IPNetwork, ...] = (
    _net("10.0.0.0/8"), _net("100.64.0.0/10"), _net("127.0.0.0/8"), _net("169.254.0.0/16"),
    _net("172.16.0.0/12"), _net("192.0.0.0/24"), _net("192.0.2.0/24"),
    _net("192.88.99.0/24"), _net("192.168.0.0/16"), _net("198.18.0.0/15"),
    _net("198.51.100.0/24"), _net("203.0.113.0/24"), _net("240.0.0.0/4"),
    _net("::1/128"), _net("::/96"), _net("64:ff9b:1::/48"), _net("100::/64"),
    _net("2001::/23"), _net("2001:db8::/32"), _net("3fff::/20"), _net("5f00::/16"),
    _net("fc00::/7"), _net("fe80::/10"), _net("fec0::/10"),
)
_NAT64 = _net("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$",
                           re.IGNORECASE)
_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_MAX_ADDRESSES = 4  # addresses tried in order when connecting fails


class EgressRefused(httpx.TransportError):
    """The guard did not send the request. `kind` is "url" (the URL itself is unusable; the
    message describes only the URL) or "address" (a refused address; the message, with the
    address and reason, is for the server log)."""

    def __init__(self, message: str, *, kind: str = "address",
                 request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)
        self.kind = kind


class UnresolvedHost(httpx.ConnectError):
    """The host name has no address (unknown, or the resolver failed or timed out)."""


@dataclass(frozen=True)
class Target:
    """A parsed destination: `host` as sent (ASCII, IDNA-encoded), `name` the same without
    a trailing dot, `literal` the IP when the host is one."""

    scheme: str
    host: str
    name: str
    port: int
    literal: IPAddress | None


@dataclass(frozen=True)
class EgressPolicy:
    """Which non-public addresses the operator allows.

    >>> EgressPolicy()                                   # public addresses only
    >>> EgressPolicy(allow_private=True)                 # on-premise receivers too
    >>> EgressPolicy(allow_networks=(ip_network("10.20.0.0/16"),))  # just that range
    """

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_strings(cls, allow_private: bool, networks: Iterable[str]) -> EgressPolicy:
        """From settings values; a bad CIDR raises ValueError naming it."""
        parsed = []
        for text in networks:
            try:
                parsed.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"not a network (CIDR): {text!r}") from exc
        return cls(allow_private=allow_private, allow_networks=tuple(parsed))

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` is refused, or None when the gateway may connect to it."""
        if isinstance(address, ipaddress.IPv6Address):
            address = address.ipv4_mapped or address  # ::ffff:a.b.c.d is a.b.c.d
            if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
                address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if isinstance(address, ipaddress.IPv6Address):
            for inner in _embedded_v4(address):
                reason = self.refusal(inner)
                if reason is not None:
                    return f"{reason} (embedded in {address})"
        reason = _never(address)
        if reason is not None:
            return reason
        reason = _not_global(address)
        if reason is None or self.allow_private:
            return None
        if any(address in net for net in self.allow_networks if net.version == address.version):
            return None
        return reason


def _embedded_v4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.append(address.teredo[1])
    if int(address) >> 32 == 0 and int(address) > 1:  # IPv4-compatible ::a.b.c.d
        found.append(ipaddress.IPv4Address(int(address)))
    return found


def _never(address: IPAddress) -> str | None:
    if any(address in net for net in METADATA_NETWORKS if net.version == address.version):
        return "cloud metadata address"
    if address.is_unspecified:
        return "unspecified address"
    if address.is_multicast:
        return "multicast address"
    if isinstance(address, ipaddress.IPv4Address) and any(address in n for n in _NEVER_V4):
        return "broadcast or this-network address"
    return None


def _not_global(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "loopback address"
    if address.is_link_local:
        return "link-local address"
    if (address.is_private or address.is_reserved or not address.is_global
            or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
            or any(address in net for net in _NOT_GLOBAL if net.version == address.version)):
        return "private or reserved address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The IP a host spells: standard forms, and the legacy IPv4 forms of `inet_aton`."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise EgressRefused("url host is not a valid address", kind="url") from None
    return None


async def resolve_system(host: str, port: int) -> list[str]:
    """`getaddrinfo` through the running loop (a worker thread, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


class EgressGuard:
    """Parses, resolves and checks destinations under one policy.

    >>> guard = EgressGuard(EgressPolicy())
    >>> await guard.check("https://hooks.example.com/x")   # the addresses, or EgressRefused
    >>> httpx.AsyncClient(transport=guard.transport())     # every request checked and pinned
    """

    def __init__(self, policy: EgressPolicy | None = None, *,
                 resolver: Resolver = resolve_system, resolve_timeout: float = 5.0) -> None:
        self.policy = policy or EgressPolicy()
        self._resolver = resolver
        self._resolve_timeout = resolve_timeout

    @classmethod
    def for_settings(cls, settings: Settings, *, resolver: Resolver = resolve_system
                     ) -> EgressGuard:
        """The guard of `settings.webhook_allow_*`; a bad CIDR there raises ValueError."""
        return cls(EgressPolicy.from_strings(settings.webhook_allow_private,
                                             settings.webhook_allow_networks),
                   resolver=resolver)

    def parse(self, url: str | httpx.URL) -> Target:
        """The destination of `url`; EgressRefused(kind="url") when it is not usable."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise EgressRefused("url is not a valid URL", kind="url") from None
        if parsed.scheme not in ("http", "https"):
            raise EgressRefused("url must be http or https", kind="url")
        if parsed.userinfo:
            raise EgressRefused("url must not contain a user name or password", kind="url")
        try:
            host = parsed.raw_host.decode("ascii").lower()
        except UnicodeDecodeError:
            raise EgressRefused("url host is not valid", kind="url") from None
        if not host:
            raise EgressRefused("url must have a host", kind="url")
        port = parsed.port if parsed.port is not None else (
            443 if parsed.scheme == "https" else 80)
        if not 1 <= port <= 65535:
            raise EgressRefused("url port must be 1 to 65535", kind="url")
        name = host.removesuffix(".")
        literal = _literal(name)
        if literal is None and not _NAME.match(name):
            raise EgressRefused("url host is not valid", kind="url")
        return Target(parsed.scheme, host, name, port, literal)

    async def addresses(self, target: Target) -> tuple[IPAddress, ...]:
        """The checked addresses of `target`, in the resolver's order. Raises EgressRefused
        when any address is refused, UnresolvedHost when there is none. Metadata service
        names are refused and `localhost` names are loopback (RFC 6761) without asking."""
        if target.name in _METADATA_NAMES:
            raise EgressRefused(f"{target.name}: cloud metadata name")
        if target.literal is not None:
            found: tuple[IPAddress, ...] = (target.literal,)
        elif target.name == "localhost" or target.name.endswith(".localhost"):
            found = (ipaddress.IPv4Address("127.0.0.1"),)
        else:
            try:
                async with asyncio.timeout(self._resolve_timeout):
                    answers = await self._resolver(target.host, target.port)
                found = tuple(dict.fromkeys(ipaddress.ip_address(a.split("%")[0])
                                            for a in answers))
            except (OSError, TimeoutError, ValueError) as exc:
                raise UnresolvedHost(f"{target.name}: {type(exc).__name__}") from None
            if not found:
                raise UnresolvedHost(f"{target.name}: no address")
        for address in found:
            reason = self.policy.refusal(address)
            if reason is not None:
                raise EgressRefused(f"{target.name} -> {address}: {reason}")
        return found

    async def check(self, url: str | httpx.URL) -> tuple[IPAddress, ...]:
        """Parse and resolve `url`: its checked addresses (see `addresses`)."""
        return await self.addresses(self.parse(url))

    def transport(self, inner: httpx.AsyncBaseTransport | None = None) -> GuardedTransport:
        return GuardedTransport(self, inner)


def _pinned(request: httpx.Request, target: Target, address: IPAddress) -> httpx.Request:
    extensions = dict(request.extensions)
    if target.scheme == "https" and target.literal is None:
        extensions["sni_hostname"] = target.name  # SNI and the certificate's name
    # `headers` still holds Host as built from the original URL.
    return httpx.Request(request.method, request.url.copy_with(host=str(address)),
                         headers=request.headers, stream=request.stream,
                         extensions=extensions)


class GuardedTransport(httpx.AsyncBaseTransport):
    """A transport that checks every request with the guard and sends it to the checked
    address. `inner` is the transport that talks to the network (tests pass an
    `httpx.MockTransport` there: the outside edge)."""

    def __init__(self, guard: EgressGuard, inner: httpx.AsyncBaseTransport | None = None
                 ) -> None:
        self._guard = guard
        # No keep-alive: the pool keys connections by (scheme, IP, port), and a connection
        # verified for one name must not carry a request for another name on the same IP.
        self._inner = inner or httpx.AsyncHTTPTransport(
            retries=0, limits=httpx.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            target = self._guard.parse(request.url)
            addresses = await self._guard.addresses(target)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        failure: httpx.ConnectError | None = None
        for address in addresses[:_MAX_ADDRESSES]:
            try:
                return await self._inner.handle_async_request(
                    _pinned(request, target, address))
            except httpx.ConnectError as exc:  # the next address, as a browser would
                failure = exc
        if failure is None:  # no address at all (the guard refuses that first)
            raise httpx.ConnectError(f"{target.host} has no address", request=request)
        raise failure

    async def aclose(self) -> None:
        await self._inner.aclose()
