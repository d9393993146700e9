"""Where the provider may connect when it fetches a URL for a client: the rules, without I/O.

A URL is *callable* when it is https (plain http only to an allow-listed host) and every address
its host has is a public unicast address, or lies inside a network of ``IDP_OUTBOUND_ALLOW``.
Registration checks the URL (``target_of``); the client checks every resolved address again when
it connects (``check_address``), because a host name can point anywhere by then.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Reasons: short, constant, safe to log and audit (never the URL, a token or a response body).
NOT_A_URL = "not a valid http(s) URL"
NOT_HTTPS = "plain http to a host that is not allow-listed"
CREDENTIALS = "the URL carries a user name or password"
LOCAL_NAME = "a localhost name that is not allow-listed"
ODD_NUMBER = "an IP address in a non-standard form"
INTERNAL = "an internal address that is not allow-listed"
NEVER = "an unspecified or multicast address"

#: Networks the ``ipaddress`` properties of Python 3.11 count as global but that are not public
#: unicast destinations (RFC 6598 shared space, RFC 6890 protocol assignments, RFC 7526's retired
#: 6to4 relays, RFC 3879's deprecated site-local IPv6, RFC 8215 local-use NAT64, "this network").
_EXTRA = tuple(
    (ipaddress.ip_network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("100.64.0.0/10", "shared"),
        ("192.0.0.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("fec0::/10", "site-local"),
        ("64:ff9b:1::/48", "private"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_KINDS = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("private", "is_private"),
    ("reserved", "is_reserved"),
)
#: Never a destination, allow-listed or not (0.0.0.0 reaches the local host on Linux).
_NEVER_KINDS = ("unspecified", "multicast")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
#: A last label that is all digits or hex is an IPv4 address in a form inet_aton accepts (127.1, 0x7f.1).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class OutboundError(Exception):
    """A call that was refused or failed. ``reason`` is one short constant-like phrase, safe for
    logs, audit events and error responses; ``refused`` means the policy said no, so retrying
    cannot help."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.refused = reason, refused


def normalise(address: Address) -> Address:
    """``::ffff:a.b.c.d`` is the IPv4 host a.b.c.d for a dual-stack socket: judge (and connect to) that."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_kind(address: Address) -> str | None:
    """What kind of non-public address this is ("loopback", "private", ...), or None when public."""
    address = normalise(address)
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64:  # judged by the IPv4 host a NAT64 gateway would reach
            return address_kind(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and address_kind(address.sixtofour):
            return address_kind(address.sixtofour)
    for network, kind in _EXTRA:
        if address.version == network.version and address in network:
            return kind
    for kind, prop in _KINDS:
        if getattr(address, prop):
            return kind
    return None if address.is_global else "reserved"


@dataclass(frozen=True)
class AllowList:
    """``IDP_OUTBOUND_ALLOW``: networks whose addresses may be called although they are internal,
    and host names that may be called over plain http or that are localhost names. A listed name
    never lifts the address check: an internal address must also be in a listed network."""

    networks: tuple[Network, ...] = ()
    names: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Entries are IP addresses or CIDRs (``127.0.0.1``, ``10.20.0.0/16``, ``::1``) or host
        names (``rp.internal.example.edu``); ValueError names the first entry that is neither."""
        networks: list[Network] = []
        names: set[str] = set()
        for entry in entries:
            entry = entry.strip().lower().rstrip(".")
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if not is_host_name(entry):
                    raise ValueError(f"{entry!r} is neither an IP address, a CIDR nor a host name") from None
                names.add(entry)
                continue
            if isinstance(network, ipaddress.IPv6Network) and network.prefixlen == 128:
                network = ipaddress.ip_network(normalise(network.network_address))
            networks.append(network)
        return cls(tuple(networks), frozenset(names))

    def permits_address(self, address: Address) -> bool:
        address = normalise(address)
        return any(address.version == n.version and address in n for n in self.networks)

    def permits_host(self, host: str) -> bool:
        """A listed name, or an IP literal inside a listed network."""
        literal = ip_literal(host)
        return self.permits_address(literal) if literal is not None else _name(host) in self.names


def is_host_name(text: str) -> bool:
    labels = text.split(".")
    return len(text) <= 253 and all(_LABEL.match(label) for label in labels) and not _NUMERIC_LABEL.match(labels[-1])


def ip_literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _name(host: str) -> str:
    return host.lower().rstrip(".")


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def target_of(url: str, allow: AllowList) -> Target:
    """Check everything about ``url`` that needs no DNS; raise ``OutboundError(refused=True)``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        raise OutboundError(NOT_A_URL, refused=True) from None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host or port == 0:
        raise OutboundError(NOT_A_URL, refused=True)
    if parts.username is not None or parts.password is not None:
        raise OutboundError(CREDENTIALS, refused=True)
    if scheme == "http" and not allow.permits_host(host):
        raise OutboundError(NOT_HTTPS, refused=True)
    literal = ip_literal(host)
    if literal is not None:
        check_address(literal, allow)
        host = str(literal)
    elif not is_host_name(_name(host)):
        raise OutboundError(ODD_NUMBER if _NUMERIC_LABEL.match(_name(host).split(".")[-1]) else NOT_A_URL, refused=True)
    elif (_name(host) == "localhost" or _name(host).endswith(".localhost")) and not allow.permits_host(host):
        raise OutboundError(LOCAL_NAME, refused=True)  # RFC 6761 §6.3: these names mean the local host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, _name(host), port or (443 if scheme == "https" else 80), path)


def check_address(address: Address, allow: AllowList) -> Address:
    """The address to connect to (IPv4-mapped IPv6 as IPv4), or ``OutboundError(refused=True)``."""
    address = normalise(address)
    kind = address_kind(address)
    if kind in _NEVER_KINDS:
        raise OutboundError(NEVER, refused=True)
    if kind is not None and not allow.permits_address(address):
        raise OutboundError(INTERNAL, refused=True)
    return address
