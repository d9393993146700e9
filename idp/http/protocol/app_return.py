"""The way back to the app when a sign-in outlives its interaction.

A pending sign-in is forgotten after ``IDP_INTERACTION_SECONDS``; a tab left open longer would then
sign the user in to the provider alone, with no way back to the app. So the sign-in page carries a
signed copy of what is needed to go back: the client and the redirect URI it asked with, bound to
this browser like the interaction itself (the ``idp_browser`` cookie's hash), for a day at most.
It rides twice, verified the same way: in the form (submitting an old form) and in the sign-in
URL ``/authorize`` redirects to (reloading an old tab, or opening it from history or a bookmark).
Here in the protocol package because ``/authorize`` signs it; the sign-in views verify it.
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

from idp.core.tokens import token_hash
from idp.http import uow
from idp.http.context import ClockSigner, deps
from idp.http.protocol import interactions
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


def _serializer(browser: str) -> URLSafeTimedSerializer:
    # Bound to the browser by the key itself (its binding hash salts the derivation): a copy opened
    # elsewhere fails the signature like a tampered one, and the hash need not ride in the URL.
    salt = "idp.app-return." + browser
    return URLSafeTimedSerializer(deps().settings.server.secret_key, salt=salt, signer=ClockSigner)


def token_for(interaction: interactions.Interaction) -> str:
    """The signed way back for the sign-in page of ``interaction`` (its form and its URL)."""
    return _serializer(interaction.browser).dumps([interaction.client_id, interaction.param("redirect_uri") or ""])


def load(value: str | None) -> AppReturn | None:
    """The way back carried by this form or URL, if genuine, recent, this browser's, and still registered."""
    cookie = request.cookies.get(interactions.browser_cookie_name(), "")
    if not value or len(value) > 4000 or not cookie:
        return None
    try:
        data = _serializer(token_hash(cookie)).loads(value, max_age=MAX_AGE_SECONDS)
    except BadSignature:  # SignatureExpired included, and another browser's (another key)
        return None
    if not isinstance(data, list) or len(data) != 2 or not all(isinstance(item, str) for item in data):
        return None
    client_id, asked = data
    client = get_client(uow.session(), client_id)
    if client is None or not client.active:
        return None
    # No redirect_uri in the request means the client's only one (OAuth 2.0 §3.1.2.3).
    redirect_uri = asked or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
    if redirect_uri not in client.redirect_uris:
        return None
    return AppReturn(client, redirect_uri, value)
