"""The way back to the app when a sign-in outlives its interaction.

A pending sign-in is forgotten after ``IDP_INTERACTION_SECONDS``; a tab left open longer would then
sign the user in to the provider alone, with no way back to the app. So the sign-in form carries a
signed copy of what is needed to go back: the client and the redirect URI it asked with, bound to
this browser like the interaction itself (the ``idp_browser`` cookie's hash), for a day at most.
Signed by itsdangerous with the server secret (the CSRF token's primitive), never trusted for more
than it says: the client must still exist and be enabled, and the redirect URI must still be one it
registered.

Where it leads: the relying party's ``state`` (and its PKCE verifier) died with the interaction, so
a new authorization response would be refused by its callback. The honest continuation is the app
itself: the origin of the registered redirect URI, where the app starts a fresh sign-in that the
provider session now completes without a password (Keycloak's "Back to application" link goes to
the client's base URL the same way; we follow it directly, since the address is derived only from
the client's registration).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from idp.core.tokens import equals, token_hash
from idp.http import uow
from idp.http.context import deps
from idp.http.protocol import interactions
from idp.http.web.csrf import ClockSigner
from idp.storage.sql.clients import get_client
from idp.storage.sql.models import Client

#: A day: long enough for a tab left open overnight, short enough that an old form is not a key.
MAX_AGE_SECONDS = 86400
FIELD = "app_return"


@dataclass(frozen=True)
class AppReturn:
    client: Client
    redirect_uri: str
    #: The signed value, carried on unchanged (its age counts from the original sign-in page).
    token: str

    @property
    def home(self) -> str | None:
        """The app's address: the origin of its registered redirect URI (None for a native app's scheme)."""
        parts = urlsplit(self.redirect_uri)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}/"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(deps().settings.server.secret_key, salt="idp.app-return", signer=ClockSigner)


def token_for(interaction: interactions.Interaction) -> str:
    """The signed way back for the sign-in form of ``interaction``."""
    data = {"c": interaction.client_id, "r": interaction.param("redirect_uri") or "", "b": interaction.browser}
    return _serializer().dumps(data)


def load(value: str | None) -> AppReturn | None:
    """The way back carried by this form, if it is genuine, recent, this browser's, and still registered."""
    if not value or len(value) > 4000:
        return None
    try:
        data = _serializer().loads(value, max_age=MAX_AGE_SECONDS)
    except BadSignature:  # SignatureExpired included
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("c", "r", "b")):
        return None
    cookie = request.cookies.get(interactions.browser_cookie_name(), "")
    if not cookie or not data["b"] or not equals(token_hash(cookie), data["b"]):
        return None
    client = get_client(uow.session(), data["c"])
    if client is None or not client.active:
        return None
    # No redirect_uri in the request means the client's only one (OAuth 2.0 §3.1.2.3).
    redirect_uri = data["r"] or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
    if redirect_uri not in client.redirect_uris:
        return None
    return AppReturn(client, redirect_uri, value)
