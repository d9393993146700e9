"""The way back to the app when a sign-in outlives its interaction.

A pending sign-in is forgotten after ``IDP_INTERACTION_SECONDS``; a tab left open longer would then
sign the user in to the provider alone, with no way back to the app. So the sign-in page carries a
signed copy of what is needed to go back: the client and the redirect URI it asked with, bound to
this browser like the interaction itself (the ``idp_browser`` cookie's hash), for a day at most.
It rides in every form and link of the sign-in, verified the same way: in the form (submitting an
old form), in the sign-in and consent URLs ``/authorize`` redirects to (reloading an old tab, or
opening it from history or a bookmark), and through the forgot-password and device-approval pages.
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

``WayBack`` is what every page of a sign-in (sign-in, forgot password, device approval, consent)
carries on to the next, in its forms, links and redirects: the interaction while it lasts, and this
token for when it is gone. One helper, so that no link of the journey forgets the way back. An
e-mailed link cannot carry a browser-bound token (it may be opened on another device): its row
records the app instead (``WayBack.from_link``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from idp.core.tokens import token_hash
from idp.http import uow
from idp.http.context import ClockSigner, deps
from idp.http.protocol import interactions
from idp.storage.sql.clients import get_client
from idp.storage.sql.models import Client, PasswordResetToken
from idp.storage.sql.resets import AskedFrom

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
    return _registered(data[0], data[1], value)


def for_link(client_id: str | None, redirect_uri: str | None) -> AppReturn | None:
    """A way back for *this* browser to the app an e-mailed link was asked for from (recorded on the
    link's row), checked against the registration like ``load``; signed now, for the next pages."""
    if not client_id:
        return None
    token = _serializer(interactions.browser_hash()).dumps([client_id, redirect_uri or ""])
    return _registered(client_id, redirect_uri or "", token)


def _registered(client_id: str, asked: str, token: str) -> AppReturn | None:
    client = get_client(uow.session(), client_id)
    if client is None or not client.active:
        return None
    # No redirect_uri in the request means the client's only one (OAuth 2.0 §3.1.2.3).
    redirect_uri = asked or (client.redirect_uris[0] if len(client.redirect_uris) == 1 else "")
    if redirect_uri not in client.redirect_uris:
        return None
    return AppReturn(client, redirect_uri, token)


@dataclass(frozen=True)
class WayBack:
    """The pending sign-in a page belongs to, carried on by its forms, links and redirects: the live
    ``interaction``, or else (it expired) the verified way ``back`` to its app; neither for a sign-in
    that was never asked for by an app."""

    interaction: interactions.Interaction | None = None
    back: AppReturn | None = None
    #: Why the interaction this request named is not there (``interactions.EXPIRED``, ``OTHER_BROWSER``).
    problem: str | None = None

    @classmethod
    def from_request(cls) -> WayBack:
        """The way back this form or URL carries (fields ``interaction`` and ``app_return``)."""
        interaction, problem = interactions.load_checked(request.values.get("interaction"))
        if interaction is not None:
            return cls(interaction)
        # Only for an expired (or no) interaction: another browser's is not continued through a token.
        back = load(request.values.get(FIELD)) if problem == interactions.EXPIRED else None
        return cls(None, back, problem if request.values.get("interaction") else None)

    @classmethod
    def from_link(cls, row: PasswordResetToken) -> WayBack:
        """The way back of the sign-in an e-mailed link was asked for in. The interaction lives in the
        store and is bound to the browser that asked; the link may be opened later than the interaction
        lives, or on another device (the mail on the phone), where that browser's signed token cannot
        verify. So the row keeps the client and redirect URI (taken from a verified way back when the
        link was asked for), and this browser gets a way back of its own from them, re-checked against
        the registration. It grants no more than the token would: the app's name on the page, and its
        registered address after sign-in; opening the mailed link already proved the mailbox."""
        interaction = interactions.load(row.interaction_id)
        return cls(interaction) if interaction else cls(None, for_link(row.return_client_id, row.return_redirect_uri))

    @property
    def token(self) -> str | None:
        """The signed way back to put in the next form or URL."""
        return token_for(self.interaction) if self.interaction else self.back.token if self.back else None

    @property
    def client(self) -> Client | None:
        """The app this sign-in is for ("to continue to <app>")."""
        if self.interaction:
            return get_client(uow.session(), self.interaction.client_id)
        return self.back.client if self.back else None

    @property
    def home(self) -> str | None:
        """The app's address, to continue to when its request is gone (``AppReturn.home``)."""
        if self.interaction:
            live = _registered(self.interaction.client_id, self.interaction.param("redirect_uri") or "", "")
            return live.home if live else None
        return self.back.home if self.back else None

    def asked_from(self) -> AskedFrom | None:
        """What an e-mailed link asked for on this page records of it, for ``from_link``."""
        if self.interaction:
            redirect_uri = self.interaction.param("redirect_uri") or ""
            return AskedFrom(self.interaction.id, self.interaction.client_id, redirect_uri)
        return AskedFrom(None, self.back.client.client_id, self.back.redirect_uri) if self.back else None

    def params(self) -> dict[str, str]:
        found = {"interaction": self.interaction.id if self.interaction else None, FIELD: self.token}
        return {name: value for name, value in found.items() if value}

    def url(self, endpoint: str, **values: str) -> str:
        """The address of ``endpoint`` (sign-in, forgot password, consent…) for this sign-in."""
        query: dict[str, Any] = {**self.params(), **values}
        return url_for(endpoint, **query)

    def fields(self) -> Markup:
        """The hidden form fields that carry this sign-in on."""
        return Markup("").join(
            Markup('<input type="hidden" name="{}" value="{}">').format(name, value)
            for name, value in self.params().items()
        )
