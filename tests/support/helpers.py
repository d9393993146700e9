"""Test helpers that read like the flow: a browser, a relying party, and the provider's admin side."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.core.clock import FixedClock
from idp.domain.clients.rules import ClientSpec, build_client

PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the browser stops at the redirect


@dataclass
class Provider:
    app: object
    url: str
    clock: FixedClock

    def create_user(
        self,
        registration_number="S1000001",
        email="ada@example.edu",
        name="Ada Lovelace",
        role="student",
        password=PASSWORD,
        active=True,
        email_verified=False,
    ):
        from idp.http.context import deps
        from idp.storage.sql import users

        with self.app.app_context(), deps().database.session() as db:
            user = users.create_user(
                db,
                registration_number=registration_number,
                email=email,
                name=name,
                role=role,
                password_hash=deps().hasher.hash(password),
                now=deps().now(),
                email_verified=email_verified,
            )
            user.active = active
            db.commit()
            return user

    def create_client(self, **spec) -> RelyingParty:
        from idp.http.context import deps

        spec.setdefault("name", "Test RP")
        spec.setdefault("redirect_uris", [CALLBACK])
        spec.setdefault("trusted", True)
        with self.app.app_context():
            row, secret = build_client(
                ClientSpec(**spec),
                secret_key=deps().settings.server.secret_key,
                now=deps().now(),
                allow=deps().outbound.allow,
            )
            with deps().database.session() as db:
                db.add(row)
                db.commit()
        return RelyingParty(self, row.client_id, secret, spec["redirect_uris"][0] if spec["redirect_uris"] else None)

    def browser(self) -> Browser:
        return Browser(self)

    @property
    def deps(self):
        from idp.app import deps_of

        return deps_of(self.app)

    def transaction(self):
        """A unit of work of the test's own on the provider's database (committed at the end)."""
        return self.deps.database.transaction()

    def accounts(self, db):
        """The account use cases on ``db``, as the CLI runs them."""
        from idp.domain.accounts import Accounts

        d = self.deps
        return Accounts(
            db=db, settings=d.settings, now=d.clock.now, hasher=d.hasher, notifier=d.notifier, source="test"
        )

    def factors(self, db, **extra):
        """The second-factor use cases on ``db`` with the provider's backends (clock, throttle, mail)."""
        from idp.domain.factors.service import Factors

        d = self.deps
        return Factors(db=db, settings=d.settings, now=d.clock.now, throttle=d.throttle, notifier=d.notifier, **extra)

    def clients(self, db):
        from idp.domain.clients.service import Clients

        d = self.deps
        return Clients(db=db, secret_key=d.settings.server.secret_key, allow=d.outbound.allow, now=d.clock.now)

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.url + "/jwks.json", timeout=5).json())

    def flush_logouts(self) -> int:
        """Deliver every queued back-channel logout token that is due now (no background thread)."""
        return self.app.extensions["idp.backchannel"].flush()

    def audit_events(self, type=None):
        from idp.http.context import deps
        from idp.storage.sql import audit

        with self.app.app_context(), deps().database.session() as db:
            return audit.list_events(db, audit.EventFilter(type=type))


class Browser:
    """A cookie-keeping user agent that follows redirects by hand, stopping at the relying party."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.http = requests.Session()
        self.last = None

    def get(self, url, **kw):
        self.last = self.http.get(urljoin(self.provider.url, url), allow_redirects=False, timeout=10, **kw)
        return self.last

    def post(self, url, data, **kw):
        self.last = self.http.post(urljoin(self.provider.url, url), data=data, allow_redirects=False, timeout=10, **kw)
        return self.last

    def follow(self, response, stop_at: str = CALLBACK):
        """Follow provider redirects; return the first response that is not a provider redirect."""
        while response.status_code in (302, 303) and not response.headers["Location"].startswith(stop_at):
            response = self.get(urljoin(response.url, response.headers["Location"]))
        return response

    def submit_login(self, page, username="S1000001", password=PASSWORD):
        form = parse_form(page.text)
        form.update(username=username, password=password)
        return self.post(form.pop("_action"), data=form)

    def submit_consent(self, page, decision="allow"):
        form = parse_form(page.text)
        form["decision"] = decision
        return self.post(form.pop("_action"), data=form)


def parse_form(html: str) -> dict:
    action = re.search(r'<form method="post" action="([^"]+)"', html).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
    fields["_action"] = action.replace("&amp;", "&")
    return fields


def query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class RelyingParty:
    provider: Provider
    client_id: str
    client_secret: str | None
    redirect_uri: str | None
    verifier: str = field(default_factory=lambda: generate_token(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def session(self, scope="openid profile email offline_access") -> OAuth2Session:
        auth_method = "none" if self.client_secret is None else "client_secret_basic"
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=auth_method,
        )

    def authorization_url(self, scope="openid profile email offline_access", **params) -> str:
        params.setdefault("nonce", self.nonce)
        url, self.state = self.session(scope).create_authorization_url(
            self.provider.url + "/authorize", code_verifier=self.verifier, **params
        )
        return url

    def sign_in(
        self,
        browser: Browser,
        scope="openid profile email offline_access",
        username="S1000001",
        password=PASSWORD,
        **params,
    ) -> str:
        """Run the browser part of the code flow and return the callback URL with the code."""
        response = browser.follow(browser.get(self.authorization_url(scope, **params)))
        if "Sign in" in response.text and response.status_code == 200:
            response = browser.follow(browser.submit_login(response, username, password))
        if response.status_code == 200 and "Allow" in response.text:
            response = browser.follow(browser.submit_consent(response))
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]

    def exchange(self, callback_url: str, **kw) -> dict:
        return self.session().fetch_token(
            self.provider.url + "/token", authorization_response=callback_url, code_verifier=self.verifier, **kw
        )

    def token_request(self, data: dict, auth=True) -> requests.Response:
        return requests.post(
            self.provider.url + "/token",
            data=data,
            timeout=10,
            auth=(self.client_id, self.client_secret) if auth and self.client_secret else None,
        )

    def verify_id_token(self, id_token: str) -> dict:
        token = jwt.decode(id_token, self.provider.jwks(), algorithms=["RS256", "ES256"])
        claims = token.claims
        assert claims["iss"] == self.provider.url
        assert self.client_id in (claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]])
        assert claims["nonce"] == self.nonce
        return claims


def bearer(access_token: str) -> dict:
    """The RFC 6750 §2.1 Authorization header for an access token."""
    return {"Authorization": f"Bearer {access_token}"}


def stored_user(provider: Provider, login: str = "S1000001"):
    """The user row as stored now (detached; attributes loaded)."""
    from idp.http.context import deps
    from idp.storage.sql import users

    with provider.app.app_context(), deps().database.session() as db:
        return users.get_user_by_login(db, login)


def update_user(provider: Provider, login: str = "S1000001", **values) -> None:
    """Change stored columns of a user, e.g. ``active=False`` or ``password_hash=...``."""
    from idp.http.context import deps
    from idp.storage.sql import users

    with provider.app.app_context(), deps().database.session() as db:
        user = users.get_user_by_login(db, login)
        for name, value in values.items():
            setattr(user, name, value)
        db.commit()


def issue_tokens(
    provider: Provider, browser: Browser | None = None, scope="openid profile email offline_access", **client_spec
) -> tuple[RelyingParty, dict]:
    """Register a client, run the code flow for the (already created) user, return the client and tokens."""
    rp = provider.create_client(**client_spec)
    return rp, rp.exchange(rp.sign_in(browser or provider.browser(), scope=scope))


def decode_id_token(provider: Provider, id_token: str) -> tuple[dict, dict]:
    """Verify an ID token's signature with the published JWKS; return (header, claims).

    Unlike ``RelyingParty.verify_id_token`` it checks no claims (e.g. for a request without nonce)."""
    token = jwt.decode(id_token, provider.jwks(), algorithms=["RS256", "ES256"])
    return dict(token.header), dict(token.claims)
