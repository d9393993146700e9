"""``OutboundClient``: the one way code in ``idp/`` opens an outbound HTTP connection.

Built on urllib3's connection pools rather than ``requests``: a pool is opened to the *checked IP
address* while TLS still sends SNI for, and verifies the certificate against, the URL's host name
(``server_hostname``). The name is resolved once, every address is checked, and the socket goes to
one of those addresses, so a DNS answer that changes between check and connect (rebinding) is never
used. ``requests`` would resolve the name again inside urllib3, read proxies and CA bundles from the
environment and follow redirects unless told not to; here nothing is implicit: no proxies, no
redirects (a 3xx is an error), no content decoding, a connect/read timeout, a deadline for the
whole exchange and a size cap enforced while the body streams in.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from urllib3 import BaseHTTPResponse, HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from idp.core.outbound.policy import AllowList, OutboundError, Target, check_address, ip_literal, target_of


class OutboundSettings(Protocol):
    """``idp.core.settings.OutboundSettings``, the section the client reads (that module imports this package)."""

    @property
    def allow(self) -> tuple[str, ...]: ...

    @property
    def ca_file(self) -> str: ...


#: ``resolver(host, port)`` -> the host's IP addresses (tests inject one to play DNS).
Resolver = Callable[[str, int], Sequence[str]]
#: A host with more addresses than this is tried on these only (each try costs a connect timeout).
MAX_ADDRESSES = 3
USER_AGENT = "SPOM-Login (+outbound)"
#: Name lookups at once. ``getaddrinfo`` cannot be interrupted, so a lookup runs on one of these threads
#: and the request stops waiting for it at its deadline; a lookup that hangs holds its thread until the
#: system resolver gives up (its own timeouts), and when all of them hang, lookups fail at their deadline.
#: (Such a thread also holds up the process's exit until then: ``concurrent.futures`` joins its threads.)
RESOLVER_THREADS = 4


def system_resolver(host: str, port: int) -> list[str]:
    """Every TCP address ``getaddrinfo`` gives, in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


class OutboundClient:
    """Fetches URLs under the outbound policy (``idp.core.outbound.policy``); every failure is an
    ``OutboundError`` whose ``refused`` flag tells a policy refusal from a network failure."""

    def __init__(
        self,
        allow: AllowList | None = None,
        *,
        resolver: Resolver = system_resolver,
        ca_file: str = "",
        timeout: float = 5.0,
        max_bytes: int = 1024 * 1024,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow = allow or AllowList()
        self.timeout, self.max_bytes = timeout, max_bytes
        # The deadline is about real elapsed time (sockets time out in real time too), so it reads
        # a monotonic clock, not the app's; tests inject one.
        self._resolver, self._ca_file, self._monotonic = resolver, ca_file, monotonic
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        self._lookups = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="outbound-dns")

    @classmethod
    def from_settings(cls, settings: OutboundSettings, **kw: Any) -> OutboundClient:
        return cls(AllowList.parse(settings.allow), ca_file=settings.ca_file, **kw)

    def get(
        self, url: str, *, accept: str = "application/json", timeout: float | None = None, max_bytes: int | None = None
    ) -> Response:
        """GET ``url``; the response of any 1xx/2xx/4xx/5xx status (a 3xx raises)."""
        return self.request("GET", url, headers={"Accept": accept}, timeout=timeout, max_bytes=max_bytes)

    def post_form(
        self, url: str, fields: dict[str, str], *, timeout: float | None = None, max_bytes: int | None = None
    ) -> Response:
        """POST ``fields`` as application/x-www-form-urlencoded."""
        return self.request(
            "POST",
            url,
            body=urlencode(fields).encode(),
            timeout=timeout,
            max_bytes=max_bytes,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> Response:
        """One exchange, at most ``2 * timeout`` seconds in all, over the first address that connects."""
        timeout = self.timeout if timeout is None else timeout
        max_bytes = self.max_bytes if max_bytes is None else max_bytes
        deadline = self._monotonic() + 2 * timeout  # the name lookup counts too
        target = target_of(url, self.allow)
        addresses = self._addresses(target, deadline)
        all_headers = {
            "Host": target.host_header,
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            "Connection": "close",
            **(headers or {}),
        }
        failure = OutboundError("no address to connect to")
        for address in addresses[:MAX_ADDRESSES]:
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise OutboundError("timed out")
            try:
                return self._exchange(
                    target, address, method, body, all_headers, min(timeout, remaining), deadline, max_bytes
                )
            except _ConnectFailed as exc:  # this address is down: the next one may not be
                failure = exc.error
        raise failure

    def _addresses(self, target: Target, deadline: float) -> list[str]:
        literal = ip_literal(target.host)
        if literal is not None:
            return [str(check_address(literal, self.allow))]
        lookup = self._lookups.submit(self._resolver, target.host, target.port)
        try:
            answer = lookup.result(timeout=max(0.0, deadline - self._monotonic()))
            parsed = [ip_literal(a.split("%", 1)[0]) for a in answer]
        except FutureTimeout:  # before OSError, of which it is a kind
            lookup.cancel()  # still queued behind hung lookups: never run it
            raise OutboundError("timed out resolving the host name") from None
        except (OSError, UnicodeError):
            raise OutboundError("the host name does not resolve") from None
        found = [a for a in parsed if a is not None]
        if not found or len(found) != len(parsed):
            raise OutboundError("the host name does not resolve")
        # Every address is checked, not just the one used: a name with one public and one internal
        # address is refused outright rather than depending on which one answers first.
        return [str(check_address(a, self.allow)) for a in dict.fromkeys(found)]

    def _exchange(
        self,
        target: Target,
        address: str,
        method: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
        deadline: float,
        max_bytes: int,
    ) -> Response:
        pool = self._pool(target, address, timeout)
        try:
            try:
                response = pool.urlopen(
                    method,
                    target.path,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                    decode_content=False,
                )
            except (NewConnectionError, ConnectTimeoutError) as exc:
                timed_out = not isinstance(exc, NewConnectionError)
                raise _ConnectFailed(
                    "connect timed out" if timed_out else "connection refused or unreachable"
                ) from None
            except HTTPError as exc:
                raise OutboundError(_reason(exc)) from None
            try:
                if 300 <= response.status < 400:
                    raise OutboundError(f"redirect (HTTP {response.status}) not followed")
                content = self._read_capped(response, max_bytes, deadline)
                return Response(response.status, response.headers.get("Content-Type", ""), content)
            finally:
                response.close()  # the body's file object too: releasing alone would leave the socket open
        finally:
            pool.close()

    def _pool(self, target: Target, address: str, timeout: float) -> HTTPConnectionPool:
        pool_timeout = Timeout(connect=timeout, read=timeout)
        if target.scheme == "http":
            return HTTPConnectionPool(address, target.port, timeout=pool_timeout, maxsize=1, retries=False)
        # Connect to the checked address; SNI and the certificate check use the URL's host name.
        return HTTPSConnectionPool(
            address,
            target.port,
            ssl_context=self._ssl_context(),
            server_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            timeout=pool_timeout,
            maxsize=1,
            retries=False,
        )

    def _read_capped(self, response: BaseHTTPResponse, max_bytes: int, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise OutboundError(f"response larger than {max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read(min(16384, max_bytes + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise OutboundError(f"response larger than {max_bytes} bytes")
                if self._monotonic() > deadline:  # a server dripping bytes never trips the read timeout
                    raise OutboundError("timed out")
        except HTTPError as exc:
            raise OutboundError(_reason(exc)) from None
        return b"".join(chunks)

    def _ssl_context(self) -> ssl.SSLContext:
        # Built on first use, not at start: the CA file may appear after the process starts (the
        # compose stack's tls-init), and processes that never call out never need it.
        with self._lock:
            if self._context is None:
                try:
                    self._context = ssl.create_default_context(cafile=self._ca_file or _default_ca_file())
                except (OSError, ssl.SSLError):
                    raise OutboundError("the CA file (IDP_OUTBOUND_CA_FILE) cannot be read") from None
            return self._context


def _default_ca_file() -> str:
    import certifi  # Mozilla's roots: what back-channel logout trusted when it went through requests

    return certifi.where()


class _ConnectFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.error = OutboundError(reason)


def _reason(exc: HTTPError) -> str:
    if isinstance(exc, ReadTimeoutError):
        return "timed out waiting for the response"
    if isinstance(exc, SSLError):
        return "TLS handshake or certificate verification failed"
    if isinstance(exc, ProtocolError):
        return "the connection broke"
    return f"HTTP failure ({exc.__class__.__name__})"
