"""The outbound client (idp/core/outbound/): the policy with an injected resolver, real loopback servers
(plain and TLS through a trustme CA), the attack of the security review end to end, and the proof
that no other code in idp/ opens HTTP connections (a runtime guard in conftest; the static check is
tests/unit/test_outbound_sources.py)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path

import pytest
import requests
import trustme
from joserfc import jwt
from joserfc.jwk import ECKey

import idp
from idp.core.outbound import AllowList, OutboundClient, OutboundError, policy
from tests.e2e.test_backchannel_logout import deliveries, sign_in_client, sign_out
from tests.e2e.test_private_key_jwt import ASSERTION_TYPE
from tests.support import outbound_guard
from tests.support.outbound_helpers import FakeDNS, Listener, Server, ok
from tests.support.registration_helpers import client_count, initial_access_token, register, web_client

LOOPBACK = AllowList.parse(["127.0.0.1/32"])


@pytest.fixture
def servers():
    started = []

    def start(kind=Server, *args, **kw):
        started.append(kind(*args, **kw))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def connects():
    """Every address the process tries to connect to during the test."""
    outbound_guard.recording = []
    yield outbound_guard.recording
    outbound_guard.recording = None


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def ca_file(ca, tmp_path):
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def refusal(client: OutboundClient, url: str) -> OutboundError:
    with pytest.raises(OutboundError) as info:
        client.get(url)
    return info.value


# -- the policy, with an injected resolver ----------------------------------------------------------

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.8",
    "198.18.0.1",
    "192.88.99.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "::127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "64:ff9b::7f00:1",
    "64:ff9b:1::1",
    "2002:7f00:1::1",
    "2001::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_a_name_resolving_to_an_internal_address_is_refused_before_connecting(address, connects):
    dns = FakeDNS({"rp.example.edu": [address]})
    error = refusal(OutboundClient(resolver=dns), "https://rp.example.edu/backchannel")
    assert error.refused and error.reason in (policy.INTERNAL, policy.NEVER)
    assert dns.calls == ["rp.example.edu"] and connects == []


@pytest.mark.parametrize("address", REFUSED)
def test_an_internal_ip_literal_is_refused_without_dns(address, connects):
    dns = FakeDNS({})
    host = f"[{address}]" if ":" in address else address
    error = refusal(OutboundClient(resolver=dns), f"https://{host}:8443/jwks.json")
    assert error.refused and dns.calls == [] and connects == []


@pytest.mark.parametrize(
    "address, connect_to",
    [
        ("93.184.215.14", "93.184.215.14"),
        ("2606:4700::1", "2606:4700::1"),
        ("::ffff:8.8.8.8", "8.8.8.8"),
        ("64:ff9b::808:808", "64:ff9b::808:808"),
        ("2002:808:808::1", "2002:808:808::1"),
    ],
)
def test_public_addresses_pass_and_mapped_ones_are_connected_as_ipv4(address, connect_to):
    import ipaddress

    assert str(policy.check_address(ipaddress.ip_address(address), AllowList())) == connect_to


def test_one_internal_address_among_public_ones_refuses_the_name(connects):
    dns = FakeDNS({"rp.example.edu": ["93.184.215.14", "10.0.0.7"]})
    assert refusal(OutboundClient(resolver=dns), "https://rp.example.edu/").reason == policy.INTERNAL
    assert connects == []


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://rp.example.edu/bcl", policy.NOT_HTTPS),
        ("ftp://rp.example.edu/bcl", policy.NOT_A_URL),
        ("https:///bcl", policy.NOT_A_URL),
        ("https://rp.example.edu:0/bcl", policy.NOT_A_URL),
        ("https://user:secret@rp.example.edu/bcl", policy.CREDENTIALS),
        ("https://localhost/bcl", policy.LOCAL_NAME),
        ("https://login.localhost./bcl", policy.LOCAL_NAME),
        ("https://127.1/bcl", policy.ODD_NUMBER),
        ("https://0x7f.0.0.1/bcl", policy.ODD_NUMBER),
        ("https://2130706433/bcl", policy.ODD_NUMBER),
    ],
)
def test_urls_refused_before_any_dns(url, reason, connects):
    dns = FakeDNS({})
    error = refusal(OutboundClient(resolver=dns), url)
    assert (error.reason, error.refused) == (reason, True)
    assert "secret" not in str(error) and dns.calls == [] and connects == []


def test_the_allow_list_lifts_address_and_scheme_checks_only_as_far_as_it_says():
    allow = AllowList.parse(["127.0.0.1/32", "10.20.0.0/16", "rp.internal.example.edu", "::1"])
    assert allow.permits_host("127.0.0.1") and allow.permits_host("[::1]") and allow.permits_host("10.20.3.4")
    assert allow.permits_host("RP.internal.example.edu.") and not allow.permits_host("10.21.0.1")
    assert allow.permits_address(policy.normalise(__import__("ipaddress").ip_address("::ffff:127.0.0.1")))
    # A listed name allows http and localhost names, never an internal address outside the networks.
    dns = FakeDNS({"rp.internal.example.edu": ["10.99.0.1"]})
    assert (
        refusal(
            OutboundClient(AllowList.parse(["rp.internal.example.edu"]), resolver=dns),
            "http://rp.internal.example.edu/bcl",
        ).reason
        == policy.INTERNAL
    )
    # 0.0.0.0 and multicast stay refused whatever the list says.
    anything = OutboundClient(AllowList.parse(["0.0.0.0/0", "::/0"]), resolver=FakeDNS({}))
    for url in ("http://0.0.0.0:8001/", "http://224.0.0.1/", "http://[::]:8001/", "http://[ff02::1]/"):
        assert refusal(anything, url).reason == policy.NEVER
    with pytest.raises(ValueError, match="neither"):
        AllowList.parse(["*.example.edu"])


def test_plain_http_to_an_allow_listed_loopback_address_works(servers):
    server = servers(Server, ok(b'{"keys": []}'))
    response = OutboundClient(LOOPBACK).get(f"http://127.0.0.1:{server.port}/jwks.json?x=1")
    assert (response.status, response.body) == (200, b'{"keys": []}')
    [seen] = server.requests
    assert seen["path"] == "/jwks.json?x=1" and seen["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert seen["headers"]["Accept-Encoding"] == "identity"


def test_default_deny_refuses_that_same_server(servers, connects):
    server = servers(Server, ok())
    assert refusal(OutboundClient(), f"http://127.0.0.1:{server.port}/").reason == policy.NOT_HTTPS
    assert refusal(OutboundClient(), f"https://127.0.0.1:{server.port}/").reason == policy.INTERNAL
    assert server.requests == [] and connects == []


def test_dns_rebinding_cannot_move_a_checked_connection(servers):
    """The name is resolved once per request and the socket goes to the address that was checked:
    a second answer (the rebinding) is never used for that request, and the next request checks
    again and is refused. 127.0.0.1 stands for a permitted address, 127.0.0.2 for an internal one."""
    public = servers(Server, ok(b"checked"))
    internal = servers(Listener, "127.0.0.2", public.port)
    dns = FakeDNS({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
    client = OutboundClient(AllowList.parse(["127.0.0.1/32", "rebind.example"]), resolver=dns)
    assert client.get(f"http://rebind.example:{public.port}/").body == b"checked"
    assert dns.calls == ["rebind.example"] and internal.connections == 0
    assert public.requests[0]["headers"]["Host"] == f"rebind.example:{public.port}"
    assert refusal(client, f"http://rebind.example:{public.port}/").reason == policy.INTERNAL
    assert internal.connections == 0 and len(public.requests) == 1


def test_a_redirect_is_an_error_and_is_not_followed(servers):
    target = servers(Listener)
    server = servers(Server, lambda h: (302, {"Location": f"http://127.0.0.1:{target.port}/admin"}, b""))
    with pytest.raises(OutboundError, match="redirect") as info:
        OutboundClient(LOOPBACK).get(f"http://127.0.0.1:{server.port}/")
    assert not info.value.refused and target.connections == 0


def test_the_response_size_is_capped_while_streaming(servers):
    exact = servers(Server, ok(b"x" * 100))
    declared = servers(Server, ok(b"x" * 101))

    def chunked(handler):  # no Content-Length: the cap must hold while the body streams in
        handler.protocol_version = "HTTP/1.1"
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(50):
            handler.wfile.write(b"10\r\n" + b"y" * 16 + b"\r\n")
        handler.wfile.write(b"0\r\n\r\n")
        return None, None, None

    streamed = servers(Server, chunked)
    client = OutboundClient(LOOPBACK, max_bytes=100)
    assert client.get(f"http://127.0.0.1:{exact.port}/").body == b"x" * 100
    for server in (declared, streamed):
        with pytest.raises(OutboundError, match="larger than 100 bytes"):
            client.get(f"http://127.0.0.1:{server.port}/")


def test_a_server_that_stalls_costs_one_timeout(servers):
    stalled = servers(Listener)
    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out waiting for the response") as info:
        OutboundClient(LOOPBACK, timeout=0.3).post_form(f"http://127.0.0.1:{stalled.port}/bcl", {"a": "b"})
    assert time.monotonic() - started < 2 and not info.value.refused and stalled.connections == 1


def test_a_name_lookup_that_hangs_ends_at_the_deadline_without_a_connection(connects):
    """getaddrinfo cannot be interrupted and has timeouts of its own (seconds, per server and try): the
    exchange's deadline (twice the timeout) bounds the lookup too, and a hung lookup connects nowhere."""
    answer = threading.Event()

    def hung_dns(host, port):
        answer.wait(10)
        return ["93.184.215.14"]

    client = OutboundClient(resolver=hung_dns, timeout=0.1)
    try:
        started = time.monotonic()
        with pytest.raises(OutboundError, match="timed out resolving the host name") as info:
            client.get("https://rp.example.edu/jwks.json")
        assert time.monotonic() - started < 2 and not info.value.refused and connects == []
    finally:
        answer.set()


def test_a_server_that_keeps_sending_is_cut_off_at_the_deadline(servers):
    """Each read returns promptly, so the read timeout never fires; the whole exchange still has a
    deadline of twice the timeout (a fake monotonic clock moves 0.25 s per look)."""
    server = servers(Server, ok(b"x" * 300_000))
    ticks = iter(range(10_000))
    client = OutboundClient(LOOPBACK, timeout=1, monotonic=lambda: next(ticks) * 0.25)
    with pytest.raises(OutboundError, match=r"^timed out$"):
        client.get(f"http://127.0.0.1:{server.port}/")
    assert OutboundClient(LOOPBACK, timeout=1).get(f"http://127.0.0.1:{server.port}/").body == b"x" * 300_000


def test_proxies_from_the_environment_are_ignored(servers, monkeypatch):
    proxy = servers(Listener)
    server = servers(Server, ok())
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    assert OutboundClient(LOOPBACK).get(f"http://127.0.0.1:{server.port}/").status == 200
    assert proxy.connections == 0


# -- TLS: the socket goes to the checked address, the certificate is checked for the name ----------


def test_https_to_an_allow_listed_loopback_server_with_a_test_ca(servers, ca, ca_file):
    server = servers(Server, ok(b'{"keys": []}'), tls=ca.issue_cert("keys.test"))
    client = OutboundClient(LOOPBACK, resolver=FakeDNS({"keys.test": ["127.0.0.1"]}), ca_file=ca_file)
    response = client.get(f"https://keys.test:{server.port}/jwks.json")
    assert response.status == 200 and response.body == b'{"keys": []}'
    assert server.sni == ["keys.test"] and server.requests[0]["headers"]["Host"] == f"keys.test:{server.port}"


def test_https_refuses_a_certificate_for_another_name_or_from_an_unknown_ca(servers, ca, ca_file):
    wrong_name = servers(Server, ok(), tls=ca.issue_cert("other.test"))
    unknown_ca = servers(Server, ok(), tls=trustme.CA().issue_cert("keys.test"))
    dns = FakeDNS({"keys.test": ["127.0.0.1"]})
    for server, client in (
        (wrong_name, OutboundClient(LOOPBACK, resolver=dns, ca_file=ca_file)),
        (unknown_ca, OutboundClient(LOOPBACK, resolver=dns)),
    ):  # certifi's roots
        error = refusal(client, f"https://keys.test:{server.port}/jwks.json")
        assert error.reason == "TLS handshake or certificate verification failed" and not error.refused
        assert server.requests == []


# -- the attack of the security review, end to end ---------------------------------------------------


def test_registering_the_attacks_backchannel_uri_is_invalid_client_metadata(provider, servers, connects):
    from idp.domain.clients.rules import SERVER_URI_MESSAGES

    internal = servers(Listener)
    token = initial_access_token(provider)
    before = client_count(provider)
    https_only, not_internal = SERVER_URI_MESSAGES[policy.NOT_HTTPS], SERVER_URI_MESSAGES[policy.INTERNAL]
    for name, uri, message in (
        ("backchannel_logout_uri", f"http://127.0.0.1:{internal.port}/internal/admin?cmd=flush", https_only),
        ("backchannel_logout_uri", f"https://127.0.0.1:{internal.port}/internal/admin?cmd=flush", not_internal),
        ("backchannel_logout_uri", f"https://[::ffff:127.0.0.1]:{internal.port}/internal/admin", not_internal),
        ("backchannel_logout_uri", "https://169.254.169.254/latest/meta-data/", not_internal),
        ("backchannel_logout_uri", f"https://localhost:{internal.port}/internal/admin", not_internal),
        ("jwks_uri", f"https://127.0.0.1:{internal.port}/internal/jwks", not_internal),
        ("jwks_uri", "http://keys.example.edu/jwks.json", https_only),
    ):
        extra = {"token_endpoint_auth_method": "private_key_jwt"} if name == "jwks_uri" else {}
        response = register(provider, web_client(**{name: uri}, **extra), token)
        assert response.status_code == 400, (uri, response.text)
        # Our own constant words, never the client's URL.
        assert response.json() == {"error": "invalid_client_metadata", "error_description": f"{name}: {message}"}
    assert client_count(provider) == before
    assert internal.connections == 0 and not any(a[1] == internal.port for a in connects if len(a) > 1)


def test_a_stored_internal_backchannel_uri_gets_no_connection_and_an_audited_final_failure(provider, servers):
    """As if registered before the fix: the row is changed directly. Sign-out queues the logout
    token; the deliverer refuses to connect, audits the failure and gives up at once (a policy
    refusal cannot succeed later)."""
    from idp.http.context import deps
    from idp.storage.sql.models import Client

    internal = servers(Listener)
    provider.create_user()
    browser = provider.browser()
    rp, _ = sign_in_client(provider, browser, backchannel_logout_uri="https://rp.example.edu/backchannel-logout")
    with provider.app.app_context(), deps().database.session() as db:
        db.get(
            Client, rp.client_id
        ).backchannel_logout_uri = f"http://127.0.0.1:{internal.port}/internal/admin?cmd=flush"
        db.commit()
    assert sign_out(browser).status_code == 200
    assert provider.flush_logouts() == 1
    [row] = deliveries(provider)
    assert row.outcome == "failed" and row.attempts == 1 and row.last_error.startswith("refused: ")
    [event] = provider.audit_events(type="logout.backchannel_failed")
    assert event.client_id == rp.client_id and event.details["final"] is True
    assert event.details["error"] == f"refused: {policy.NOT_HTTPS}"
    assert "cmd=flush" not in str(event.details)
    provider.clock.advance(3600)
    assert provider.flush_logouts() == 0 and internal.connections == 0


def test_a_registered_host_name_that_resolves_internal_at_delivery_is_refused(make_provider, servers):
    """The name passed registration (names are not resolved then); at delivery it points at an
    internal listener (DNS rebinding between registration and sign-out): nothing connects."""
    internal = servers(Listener)
    dns = FakeDNS({"rp.example.edu": ["127.0.0.1"]})
    provider = make_provider(outbound=OutboundClient(resolver=dns))
    provider.create_user()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=f"https://rp.example.edu:{internal.port}/bcl")
    sign_out(browser)
    assert provider.flush_logouts() == 1
    [row] = deliveries(provider)
    assert (row.outcome, row.last_error) == ("failed", f"refused: {policy.INTERNAL}")
    assert dns.calls == ["rp.example.edu"] and internal.connections == 0


def _private_key_jwt_client(provider, key, jwks_uri):
    return provider.create_client(
        name="Keyed service",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="api.read",
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=jwks_uri,
    )


def _client_credentials(provider, client_id, key) -> requests.Response:
    now = int(provider.clock.now())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": key.kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": provider.url + "/token",
            "exp": now + 60,
            "jti": secrets.token_urlsafe(8),
        },
        key,
        algorithms=["ES256"],
    )
    return requests.post(
        provider.url + "/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def test_a_jwks_uri_on_an_internal_port_is_invalid_client_without_a_connection(provider, servers, caplog):
    from idp.http.context import deps
    from idp.storage.sql.models import Client

    internal = servers(Listener)
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    rp = _private_key_jwt_client(provider, key, "https://keys.example.edu/jwks.json")
    with provider.app.app_context(), deps().database.session() as db:
        db.get(Client, rp.client_id).jwks_uri = f"https://127.0.0.1:{internal.port}/internal/jwks?token=s3cret"
        db.commit()
    with caplog.at_level(logging.WARNING, logger="idp.http.protocol.client_auth"):
        response = _client_credentials(provider, rp.client_id, key)
    assert response.status_code in (400, 401)
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "The client's public keys cannot be loaded.",
    }
    assert internal.connections == 0  # not even a TCP connection, let alone a TLS handshake
    [line] = [r.getMessage() for r in caplog.records if "jwks_uri" in r.getMessage()]
    assert line == f"client {rp.client_id}: cannot fetch its jwks_uri: {policy.INTERNAL}"


def test_sector_identifier_uri_is_ignored_and_never_fetched(provider, servers):
    """Pairwise subjects are not supported, so the member is ignored as RFC 7591 §2 allows."""
    internal = servers(Listener)
    response = register(
        provider,
        web_client(sector_identifier_uri=f"https://127.0.0.1:{internal.port}/sector"),
        initial_access_token(provider),
    )
    assert response.status_code == 201 and "sector_identifier_uri" not in response.json()
    assert internal.connections == 0


# -- the outbound client is the only code in idp/ that opens HTTP connections --------------------------
# (the static check of the sources is tests/unit/test_outbound_sources.py)

IDP_DIR = Path(idp.__file__).resolve().parent


def test_the_runtime_guard_stops_http_from_provider_code_outside_the_outbound_client(servers):
    """The suite-wide audit hook (tests/support/outbound_guard.py): code running as an ``idp`` module that
    opens an HTTP connection without ``idp.core.outbound`` is stopped before the connect."""
    target = servers(Listener)
    namespace = {"__name__": "idp.http.protocol.not_a_real_module"}
    code = compile(
        f"import http.client\nhttp.client.HTTPConnection('127.0.0.1', {target.port}, timeout=2).request('GET', '/')\n",
        str(IDP_DIR / "protocol" / "not_a_real_module.py"),
        "exec",
    )
    with pytest.raises(outbound_guard.OutboundGuardViolation):
        exec(code, namespace)  # noqa: S102  a module of idp/ that opens HTTP itself, made up on purpose
    assert target.connections == 0
    assert outbound_guard.violations and "idp.http.protocol.not_a_real_module" in outbound_guard.violations[0]
    outbound_guard.violations.clear()  # recorded on purpose; the autouse check would fail the test
