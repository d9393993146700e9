"""The provider the route fuzz talks to, in process: a user, relying parties of every kind, and the
real credentials a client or browser would hold (tokens, a signed-in session, a CSRF pair, a
registration), obtained through the provider's own endpoints, so generated requests get deep."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.helpers import CALLBACK, PASSWORD, Provider, RelyingParty
from tests.support.registration_helpers import initial_access_token, web_client

PUBLIC_CALLBACK = "http://127.0.0.1:9/spa-callback"
LOGOUT_CALLBACK = "http://127.0.0.1:9/signed-out"
#: Sent as ``interaction``, the session cookie or ``code``: replaced by a fresh one for that request.
FRESH_INTERACTION = "<fresh interaction>"
FRESH_SESSION = "<fresh session>"
FRESH_CODE = "<fresh authorization code>"
#: The provider's cookies on plain-http loopback (``__Host-`` prefixed over https).
COOKIES = ("idp_session", "idp_csrf", "idp_device", "idp_lang", "idp_browser")


@dataclass
class World:
    provider: Provider
    rp: RelyingParty
    spa: RelyingParty
    service: RelyingParty
    verifier: str = field(default_factory=lambda: generate_token(48))
    tokens: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)
    csrf_token: str = ""
    registration: dict = field(default_factory=dict)
    initial_token: str = ""
    admin_token: str = ""
    user_id: int = 0

    @property
    def app(self):
        return self.provider.app

    @property
    def issuer(self) -> str:
        return self.provider.url

    @property
    def redirect_uris(self) -> set[str]:
        """Every URI a response may send the browser to: registered redirect and post-logout URIs."""
        return {CALLBACK, PUBLIC_CALLBACK, LOGOUT_CALLBACK, *self.registration.get("redirect_uris", [])}

    def authorize_params(self, rp: RelyingParty | None = None) -> dict:
        rp = rp or self.rp
        return {
            "response_type": "code",
            "client_id": rp.client_id,
            "redirect_uri": rp.redirect_uri,
            "scope": "openid profile email offline_access",
            "state": "fuzz-state",
            "nonce": "fuzz-nonce",
            "code_challenge": create_s256_code_challenge(self.verifier),
            "code_challenge_method": "S256",
        }

    def fresh_interaction(self) -> tuple[str, dict[str, str]]:
        """A pending sign-in, started as a browser starts one: its id and the cookies it set."""
        http = self.app.test_client()
        response = http.get("/authorize?" + urlencode(self.authorize_params()), base_url=self.issuer)
        interaction = parse_qs(urlsplit(response.headers["Location"]).query)["interaction"][0]
        host = urlsplit(self.issuer).hostname
        return interaction, {
            name: cookie.value for name in COOKIES if (cookie := http.get_cookie(name, domain=host)) is not None
        }

    def fresh_code(self) -> str:
        """An authorization code for ``rp`` (consent was given at setup), redeemable with ``verifier``."""
        http = self.app.test_client(use_cookies=False)  # a cookie jar would replace the Cookie header
        response = http.get(
            "/authorize?" + urlencode(self.authorize_params()),
            base_url=self.issuer,
            headers={"Cookie": f"idp_session={self.fresh_session()}"},
        )
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]

    def fresh_session(self) -> str:
        from idp.http.context import deps
        from idp.storage.sql import sessions

        with self.app.app_context(), deps().database.session() as db:
            _row, token = sessions.start_session(
                db,
                user_id=self.user_id,
                amr=["pwd"],
                now=deps().now(),
                idle=3600,
                absolute=86400,
                ip="127.0.0.1",
                user_agent="fuzz",
            )
            db.commit()
        return token


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def build_world(provider: Provider) -> World:
    """Sign the user in through the pages, run the code flow, register a client: as a real RP would."""
    from idp.domain.clients.rules import ADMIN_SCOPE

    user = provider.create_user()
    world = World(
        provider=provider,
        rp=provider.create_client(name="Fuzz RP", trusted=False, post_logout_redirect_uris=[LOGOUT_CALLBACK]),
        spa=provider.create_client(name="Fuzz SPA", redirect_uris=[PUBLIC_CALLBACK], public=True),
        service=provider.create_client(
            name="Fuzz sync", grant_types=["client_credentials"], redirect_uris=[], scope="api.read"
        ),
    )
    world.user_id = user.id
    http = provider.app.test_client()
    admin = provider.create_client(
        name="Fuzz admin", grant_types=["client_credentials"], redirect_uris=[], scope=ADMIN_SCOPE, trusted=False
    )
    world.admin_token = _token(http, admin, {"grant_type": "client_credentials", "scope": ADMIN_SCOPE})["access_token"]
    world.tokens["service"] = _token(http, world.service, {"grant_type": "client_credentials"})["access_token"]
    _sign_in_and_exchange(world, http)
    world.initial_token = initial_access_token(provider)
    registered = http.post("/register", json=web_client(), headers={"Authorization": f"Bearer {world.initial_token}"})
    assert registered.status_code == 201, registered.text
    world.registration = registered.get_json()
    world.initial_token = initial_access_token(provider)  # the first one is used up
    return world


def _token(http, rp: RelyingParty, data: dict) -> dict:
    response = http.post("/token", data=data, headers={"Authorization": basic(rp.client_id, rp.client_secret)})
    assert response.status_code == 200, response.text
    return response.get_json()


def _sign_in_and_exchange(world: World, http) -> None:
    response = http.get("/authorize?" + urlencode(world.authorize_params()))
    page = http.get(response.headers["Location"])
    form = _hidden_fields(page.text)
    response = http.post("/login", data={**form, "username": "S1000001", "password": PASSWORD})
    response = http.get(response.headers["Location"])  # resume -> consent
    consent = http.get(response.headers["Location"])
    response = http.post("/consent", data={**_hidden_fields(consent.text), "decision": "allow"})
    callback = http.get(response.headers["Location"]).headers["Location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    world.tokens.update(
        _token(
            http,
            world.rp,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": CALLBACK,
                "code_verifier": world.verifier,
            },
        )
    )
    world.csrf_token = form["csrf_token"]
    world.cookies = {name: cookie.value for name in COOKIES if (cookie := http.get_cookie(name)) is not None}


def _hidden_fields(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))
