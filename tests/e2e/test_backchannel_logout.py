"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0), provider side: who is told, what the
logout token says, and delivery outside the user's request with retries, a timeout and an audit trail."""

from __future__ import annotations

import re
import socket
import threading

import pytest
import requests
from flask import Flask, request
from joserfc import jwt

from idp.domain import sessions
from idp.storage.sql import logout_deliveries
from idp.storage.sql.models import LogoutDelivery
from tests.support.helpers import decode_id_token, stored_user
from tests.support.live import LiveServer, free_port

EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: The receivers listen on plain-http loopback, which the provider calls only when the operator
#: allow-lists it (IDP_OUTBOUND_ALLOW, as `make demo` does); tests/e2e/test_outbound.py covers the refusal.
LOOPBACK = ("127.0.0.1/32",)


@pytest.fixture
def make_provider(make_provider):
    def start(**overrides):
        overrides.setdefault("outbound_allow", LOOPBACK)
        return make_provider(**overrides)

    return start


@pytest.fixture
def provider(make_provider):
    return make_provider()


class Receiver:
    """A relying party's back-channel logout endpoint that records what it receives."""

    def __init__(self, statuses=(200,)):
        self.tokens: list[str] = []
        self.statuses = list(statuses)
        self.received = threading.Event()
        app = Flask("receiver")

        @app.post("/backchannel-logout")
        def receive():
            self.tokens.append(request.form["logout_token"])
            self.received.set()
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return "", status

        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}/backchannel-logout"
        self.server = LiveServer(app, self.port).__enter__()

    def close(self):
        self.server.__exit__()


@pytest.fixture
def receivers():
    started = []

    def start(**kw):
        started.append(Receiver(**kw))
        return started[-1]

    yield start
    for r in started:
        r.close()


def sign_in_client(provider, browser, **spec):
    """Register a client, sign the browser in through it, return (client, ID token claims)."""
    rp = provider.create_client(**spec)
    tokens = rp.exchange(rp.sign_in(browser))
    return rp, decode_id_token(provider, tokens["id_token"])[1]


def sign_out(browser):
    page = browser.get("/logout")
    from tests.support.helpers import parse_form

    form = parse_form(page.text)
    form["confirm"] = "yes"
    return browser.post(form.pop("_action"), data=form)


def deliveries(provider):
    from idp.http.context import deps

    with provider.app.app_context(), deps().database.session() as db:
        return logout_deliveries.list_deliveries(db)


def test_discovery_advertises_backchannel_logout_with_sid(provider):
    config = requests.get(provider.url + "/.well-known/openid-configuration", timeout=5).json()
    assert config["backchannel_logout_supported"] is True
    assert config["backchannel_logout_session_supported"] is True
    assert config["frontchannel_logout_supported"] is False


def test_sign_out_sends_a_valid_logout_token_to_the_client(provider, receivers):
    provider.create_user()
    receiver = receivers()
    browser = provider.browser()
    rp, id_claims = sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri)
    assert id_claims["sid"]

    assert sign_out(browser).status_code == 200
    assert receiver.tokens == []  # not sent during the user's request
    assert provider.flush_logouts() == 1

    [raw] = receiver.tokens
    token = jwt.decode(raw, provider.jwks(), algorithms=["RS256"])
    claims = token.claims
    assert token.header["typ"] == "logout+jwt" and token.header["kid"]
    assert claims["iss"] == provider.url and claims["aud"] == rp.client_id
    assert claims["sub"] == id_claims["sub"] and claims["sid"] == id_claims["sid"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims["iat"] == int(provider.clock.now()) and 0 < claims["exp"] - claims["iat"] <= 120
    assert claims["jti"]
    [event] = provider.audit_events(type="logout.backchannel_delivered")
    assert event.client_id == rp.client_id and event.details["sid"] == id_claims["sid"]
    assert provider.flush_logouts() == 0  # delivered once, not again


def test_logout_token_uses_the_clients_id_token_algorithm(provider, receivers):
    provider.create_user()
    receiver = receivers()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri, id_token_signed_response_alg="ES256")
    sign_out(browser)
    provider.flush_logouts()
    assert jwt.decode(receiver.tokens[0], provider.jwks(), algorithms=["ES256"]).header["alg"] == "ES256"


def test_only_clients_holding_a_session_under_that_sid_are_told(provider, receivers):
    provider.create_user()
    provider.create_user(registration_number="S1000002", email="bob@example.edu", name="Bob")
    a, b, other = receivers(), receivers(), receivers()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=a.uri)
    sign_in_client(provider, browser, backchannel_logout_uri=b.uri)
    sign_in_client(provider, browser)  # no back-channel URI registered: nothing to send
    # The same kind of client, used by another browser (another provider session): not told.
    sign_in_client(provider, provider.browser(), backchannel_logout_uri=other.uri)

    sign_out(browser)
    assert provider.flush_logouts() == 2
    assert len(a.tokens) == 1 and len(b.tokens) == 1 and other.tokens == []
    sid_a = jwt.decode(a.tokens[0], provider.jwks(), algorithms=["RS256"]).claims["sid"]
    sid_b = jwt.decode(b.tokens[0], provider.jwks(), algorithms=["RS256"]).claims["sid"]
    assert sid_a == sid_b


def test_ending_all_of_a_users_sessions_tells_each_client_for_each_session(provider, receivers):
    """The path password reset, disabling a user and "sign out everywhere" take."""
    from idp.http.context import deps

    provider.create_user()
    receiver = receivers()
    first, second = provider.browser(), provider.browser()
    _, claims_1 = sign_in_client(provider, first, backchannel_logout_uri=receiver.uri)
    _, claims_2 = sign_in_client(provider, second, backchannel_logout_uri=receiver.uri)
    user = stored_user(provider)
    with provider.app.app_context(), deps().database.session() as db:
        ended = sessions.end_user_sessions(db, user.id, provider.clock.now())
        db.commit()
    assert sorted(ended) == sorted([claims_1["sid"], claims_2["sid"]])
    assert provider.flush_logouts() == 2
    sids = {jwt.decode(t, provider.jwks(), algorithms=["RS256"]).claims["sid"] for t in receiver.tokens}
    assert sids == {claims_1["sid"], claims_2["sid"]}


def test_signing_in_again_ends_the_old_session_and_tells_its_clients(provider, receivers):
    provider.create_user()
    receiver = receivers()
    browser = provider.browser()
    _, claims = sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri)
    # prompt=login: a new provider session replaces the old one (never reused, ASVS 7.2.4).
    rp = provider.create_client()
    rp.sign_in(browser, prompt="login")
    provider.flush_logouts()
    assert [jwt.decode(t, provider.jwks(), algorithms=["RS256"]).claims["sid"] for t in receiver.tokens] == [
        claims["sid"]
    ]


def test_a_dead_client_is_retried_with_backoff_then_given_up_and_audited(make_provider):
    provider = make_provider(backchannel_attempts=3)
    provider.create_user()
    dead = f"http://127.0.0.1:{free_port()}/backchannel-logout"  # nothing listens there
    browser = provider.browser()
    rp, _ = sign_in_client(provider, browser, backchannel_logout_uri=dead)
    assert sign_out(browser).status_code == 200

    assert provider.flush_logouts() == 1
    [row] = deliveries(provider)
    assert row.outcome == "pending" and row.attempts == 1 and row.last_error == "connection refused or unreachable"
    assert provider.flush_logouts() == 0  # not due yet
    provider.clock.advance(5)
    assert provider.flush_logouts() == 1
    provider.clock.advance(9)
    assert provider.flush_logouts() == 0  # the second retry waits 10 s
    provider.clock.advance(1)
    assert provider.flush_logouts() == 1
    [row] = deliveries(provider)
    assert row.outcome == "failed" and row.attempts == 3 and row.done_at is not None
    events = provider.audit_events(type="logout.backchannel_failed")  # newest first
    assert [(e.details["attempts"], e.details["final"]) for e in events] == [(3, True), (2, False), (1, False)]
    assert all(
        e.client_id == rp.client_id and e.details["error"] == "connection refused or unreachable" for e in events
    )
    provider.clock.advance(3600)
    assert provider.flush_logouts() == 0


def test_an_error_status_is_retried_and_a_later_success_is_delivered(provider, receivers):
    provider.create_user()
    receiver = receivers(statuses=(503, 200))
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri)
    sign_out(browser)
    provider.flush_logouts()
    assert deliveries(provider)[0].last_error == "HTTP 503"
    provider.clock.advance(5)
    provider.flush_logouts()
    [row] = deliveries(provider)
    assert row.outcome == "delivered" and row.attempts == 2
    assert len(receiver.tokens) == 2
    # A fresh token (own jti) per attempt.
    jtis = {jwt.decode(t, provider.jwks(), algorithms=["RS256"]).claims["jti"] for t in receiver.tokens}
    assert len(jtis) == 2


def delivery_counts(provider) -> dict[str, float]:
    """``idp_backchannel_logout_deliveries_total`` by outcome, as an operator's scrape of /metrics shows it."""
    http = provider.app.test_client()
    http.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    body = http.get("/metrics").get_data(as_text=True)
    found = dict(re.findall(r'^idp_backchannel_logout_deliveries_total\{outcome="(\w+)"\} (\S+)$', body, re.M))
    return {outcome: float(found.get(outcome, 0)) for outcome in ("delivered", "retrying", "failed")}


def test_delivery_attempts_are_counted_in_the_metrics_by_outcome(make_provider, receivers):
    provider = make_provider(backchannel_attempts=2, metrics_networks=("127.0.0.1/32",))
    provider.create_user()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=receivers(statuses=(503, 200)).uri)
    sign_in_client(provider, browser, backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/backchannel-logout")
    before = delivery_counts(provider)
    sign_out(browser)

    assert provider.flush_logouts() == 2  # both fail once
    provider.clock.advance(5)
    assert provider.flush_logouts() == 2  # one delivered, the dead one given up
    after = delivery_counts(provider)
    assert {k: after[k] - before[k] for k in after} == {"delivered": 1, "retrying": 2, "failed": 1}


def test_a_client_that_never_answers_costs_one_timeout_per_attempt(make_provider):
    provider = make_provider(backchannel_timeout_seconds=1)
    provider.create_user()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog) and never answers
    try:
        browser = provider.browser()
        sign_in_client(provider, browser, backchannel_logout_uri=f"http://127.0.0.1:{listener.getsockname()[1]}/bcl")
        assert sign_out(browser).status_code == 200  # the user's sign-out never waits for the client
        assert provider.flush_logouts() == 1
        [row] = deliveries(provider)
        assert row.outcome == "pending" and row.last_error == "timed out waiting for the response"
    finally:
        listener.close()


def test_two_deliverers_never_send_the_same_row(provider, receivers):
    from idp.http.context import deps

    provider.create_user()
    receiver = receivers()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri)
    sign_out(browser)
    with provider.app.app_context(), deps().database.session() as one, deps().database.session() as two:
        [row_one] = logout_deliveries.due(one, provider.clock.now())
        [row_two] = logout_deliveries.due(two, provider.clock.now())
        assert logout_deliveries.claim(one, row_one, provider.clock.now() + 30)
        one.commit()
        assert not logout_deliveries.claim(two, row_two, provider.clock.now() + 30)
        two.commit()


def test_the_background_deliverer_sends_without_being_asked(make_provider, receivers):
    provider = make_provider(backchannel_poll_seconds=30)
    provider.create_user()
    receiver = receivers()
    browser = provider.browser()
    sign_in_client(provider, browser, backchannel_logout_uri=receiver.uri)
    deliverer = provider.app.extensions["idp.backchannel"]
    deliverer.start()
    try:
        sign_out(browser)
        # Woken by the request that queued the token, long before the 30 s poll.
        assert receiver.received.wait(timeout=10)
    finally:
        deliverer.stop()
    with provider.app.app_context():
        from idp.http.context import deps

        with deps().database.session() as db:
            assert db.query(LogoutDelivery).one().outcome in ("pending", "delivered")


@pytest.mark.parametrize(
    "uri, message",
    [
        ("http://rp.example.edu/bcl", "must use https"),
        ("https://rp.example.edu/bcl#frag", "fragment"),
        ("edu.example.app:/bcl", "must be an absolute https URL"),
        ("/bcl", "absolute"),
    ],
)
def test_backchannel_logout_uri_is_validated(uri, message):
    from idp.core.errors import ClientMetadataError
    from idp.domain.clients.rules import ClientSpec

    with pytest.raises(ClientMetadataError) as info:
        ClientSpec(name="RP", redirect_uris=["https://rp.example.edu/cb"], backchannel_logout_uri=uri).validate()
    assert info.value.field == "backchannel_logout_uri" and message in str(info.value)
