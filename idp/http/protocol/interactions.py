"""Pending authorization requests, saved server-side while the user signs in or consents.

An interaction is the original ``/authorize`` parameters under a random id, plus what has
happened since. The sign-in and consent pages carry only the id; ``/authorize/resume`` replays
the saved parameters through Authlib again.

An interaction belongs to the browser that started it: ``start`` binds it to this browser's
``idp_browser`` cookie (a random value; the interaction keeps only its hash), and ``load`` finds
it only for that browser. Its results name who produced them: ``login`` and ``consent`` record
the user and provider session that signed in or consented, and are honoured only while that same
user is signed in with that same session (``login_done_by``, ``consent_done_by``). So an id that
leaks (a shared link, a referrer, a screenshot) is worth nothing in another browser, and a result
made by one person never counts for another (node oidc-provider binds its interactions the same
way, with a cookie per interaction).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from flask import Response, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from idp.core.tokens import equals, new_token, token_hash
from idp.domain.sessions import SignedIn
from idp.http import uow
from idp.http.context import deps

KEY = "interaction:"
#: Why ``load_checked`` found nothing usable.
EXPIRED, OTHER_BROWSER = "expired", "other_browser"


@dataclass
class Interaction:
    id: str
    params: dict[str, list[str]]
    created_at: float
    #: SHA-256 of the ``idp_browser`` cookie of the browser that started it.
    browser: str = ""
    #: ``{"user_id", "session_id"}`` of the sign-in made for it, and of the consent given to it.
    login: dict[str, Any] | None = None
    consent: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    @property
    def client_id(self) -> str:
        """Authlib validated the request, client included, before the interaction was saved."""
        return self.param("client_id") or ""

    def record_login(self, user_id: int, session_id: str) -> None:
        """The sign-in made for this request (which also voids any consent made by someone else)."""
        self.login = {"user_id": user_id, "session_id": session_id}
        if self.consent != self.login:
            self.consent = None

    def record_consent(self, user_id: int, session_id: str) -> None:
        self.consent = {"user_id": user_id, "session_id": session_id}

    def login_done_by(self, signed_in: SignedIn | None) -> bool:
        """True when this request's sign-in was made by the user and session signed in now."""
        return _made_by(self.login, signed_in)

    def consent_done_by(self, signed_in: SignedIn | None) -> bool:
        return _made_by(self.consent, signed_in)

    def save(self) -> None:
        """Saved with the request's work (``uow.on_commit``): as it stands when the request commits."""
        store, ttl = deps().store, deps().settings.sessions.interaction_seconds
        uow.on_commit(lambda: store.put(KEY + self.id, asdict(self), ttl))

    def discard(self) -> None:
        store = deps().store
        uow.on_commit(lambda: store.delete(KEY + self.id))

    def expired(self) -> bool:
        return deps().now() - self.created_at >= deps().settings.sessions.interaction_seconds


def _made_by(result: dict[str, Any] | None, signed_in: SignedIn | None) -> bool:
    return bool(
        result
        and signed_in
        and result.get("user_id") == signed_in.user.id
        and result.get("session_id") == signed_in.session.id
    )


def start(values: MultiDict[str, str]) -> Interaction:
    """Save a new interaction for ``values``, bound to this browser."""
    interaction = Interaction(
        id=new_token(),
        params={k: values.getlist(k) for k in values},
        created_at=deps().now(),
        browser=browser_hash(),
    )
    interaction.save()
    return interaction


def load_checked(interaction_id: str | None) -> tuple[Interaction | None, str | None]:
    """(interaction, None), or (None, EXPIRED | OTHER_BROWSER) when there is none for this browser."""
    if not interaction_id or len(interaction_id) > 100:
        return None, EXPIRED
    data = deps().store.get(KEY + interaction_id)
    names = {f.name for f in fields(Interaction)}
    if not isinstance(data, dict) or not set(data) <= names:  # gone, or saved by an older release
        return None, EXPIRED
    interaction = Interaction(**data)
    if interaction.expired():
        return None, EXPIRED
    cookie = request.cookies.get(browser_cookie_name(), "")
    if not cookie or not interaction.browser or not equals(token_hash(cookie), interaction.browser):
        return None, OTHER_BROWSER
    return interaction, None


def load(interaction_id: str | None) -> Interaction | None:
    """This browser's pending interaction ``interaction_id``, or None (unknown, expired, or another's)."""
    return load_checked(interaction_id)[0]


PROBLEMS = {
    EXPIRED: _l("Your sign-in took too long. Go back to the application and start again."),
    OTHER_BROWSER: _l(
        "This sign-in was started in another browser, so it cannot be continued here. Go back to "
        "the application in this browser and start again."
    ),
}


def problem_page(problem: str | None) -> ResponseReturnValue:
    """The page for a sign-in that cannot be continued: what happened, and what to do (400)."""
    problem = problem if problem in PROBLEMS else EXPIRED
    return render_template("error.html", error=f"interaction_{problem}", description=PROBLEMS[problem]), 400


# -- the browser binding cookie ------------------------------------------------------------------


def browser_cookie_name() -> str:
    # __Host-: this host only, path "/", https only (RFC 6265bis §4.1.3.2).
    return "__Host-idp_browser" if deps().settings.server.secure_cookies else "idp_browser"


def _browser_token() -> str:
    """This browser's binding value: its cookie, or a new one set on the response."""
    existing = request.cookies.get(browser_cookie_name(), "")
    if 20 <= len(existing) <= 100:
        return existing
    if "idp_browser_cookie" not in g:
        g.idp_browser_cookie = new_token()
    return g.idp_browser_cookie


def browser_hash() -> str:
    """This browser's binding, as interactions keep it (its cookie is set with this response if new)."""
    return token_hash(_browser_token())


def set_probe() -> None:
    """Give this browser its binding cookie now (with this response), to see whether it comes back."""
    _browser_token()


def apply_cookie(response: Response) -> Response:
    """Set the binding cookie made by this request. A browser-session cookie (no expiry): it
    only has to outlive a pending sign-in; SameSite=Lax, so the top-level GET from the relying
    party's redirect carries it."""
    value = g.get("idp_browser_cookie")
    if value:
        response.set_cookie(
            browser_cookie_name(),
            value,
            httponly=True,
            samesite="Lax",
            path="/",
            secure=deps().settings.server.secure_cookies,
        )
    return response


# -- replaying the saved request through Authlib -------------------------------------------------


class _StoredPayload(OAuth2Payload):
    def __init__(self, params: dict[str, list[str]]) -> None:
        self._multi = MultiDict([(k, v) for k, vs in params.items() for v in vs])

    @property
    def data(self) -> MultiDict[str, str]:
        return self._multi

    @property
    def datalist(self) -> dict[str, list[str]]:
        result: defaultdict[str, list[str]] = defaultdict(list)
        for k in self._multi:
            result[k].extend(self._multi.getlist(k))
        return result


class StoredRequest(OAuth2Request):
    """An authorization request rebuilt from an interaction, for Authlib to validate again."""

    def __init__(self, interaction: Interaction) -> None:
        super().__init__("GET", deps().settings.server.issuer + "/authorize", headers={})
        self.payload = _StoredPayload(interaction.params)

    @property
    def args(self) -> MultiDict[str, str]:
        return self.payload.data

    @property
    def form(self) -> MultiDict[str, str]:
        return MultiDict()
