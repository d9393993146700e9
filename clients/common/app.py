"""The relying-party app shell and its OpenID Connect routes (blueprint ``rp``).

Sign-in is Authlib's Flask client: code flow with PKCE (S256), ``state`` and ``nonce`` kept in
the server-side session, the ID token checked against the provider's JWKS (with this app's
clock). Every pending sign-in is kept by its ``state`` (a tab each, a bounded number, with an
expiry), so two tabs that started signing in together both finish. A callback whose ``state`` is
unknown is told apart by a probe cookie: a browser that really refuses cookies hears so; one
that merely lost the sign-in (another tab, cleared cookies, too old) is offered to continue. Pages call ``login_required``; it refreshes an expired access token and, when the
app's own session has expired, goes back through the provider with ``prompt=none`` first.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from . import i18n
from .config import Clock, RPConfig, SystemClock
from .csrf import check_csrf, csrf_token
from .logout_token import MAX_AGE_SECONDS, LogoutTokenError, validate_logout_token
from .session import ServerSessionInterface
from .storage import RPDatabase, end_sessions, remember_jti

log = logging.getLogger(__name__)
bp = Blueprint("rp", __name__, template_folder="templates", static_folder="static", static_url_path="/rp-static")

#: Errors of a ``prompt=none`` request that mean "the user must interact": explain, don't loop.
INTERACTION_ERRORS = {"login_required", "consent_required", "interaction_required", "account_selection_required"}
#: Refresh this long before the access token's expiry, so a page never uses a token about to lapse.
REFRESH_MARGIN_SECONDS = 30
#: Pending sign-ins kept per browser session (one per tab that started one); the oldest go first.
MAX_PENDING = 8
#: How long a pending sign-in waits for its callback (Authlib keeps its own state data an hour too).
PENDING_SECONDS = 3600
#: Where Authlib keeps a pending sign-in's nonce and PKCE verifier: ``_state_<client name>_<state>``.
AUTHLIB_STATE = "_state_spom_"
#: The provider's value for "a second factor was shown" (its acr_values_supported; docs/clients.md).
#: Written here again: a relying party is an independent app and never imports the provider.
MFA_ACR = "urn:spom:acr:mfa"


@dataclass
class RP:
    config: RPConfig
    clock: Clock
    database: RPDatabase
    oauth: Any  # the registered Authlib client (Authlib has no type information)


def rp() -> RP:
    found: RP = current_app.extensions["rp"]
    return found


def create_rp_app(
    import_name: str,
    config: RPConfig,
    *,
    clock: Clock | None = None,
    database: RPDatabase | None = None,
    links: tuple[tuple[str, str], ...] = (),
) -> Flask:
    """The app shell: server-side session, Authlib client, the ``rp`` routes; ``links`` go in the header."""
    app = Flask(import_name)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=64 * 1024)
    clock = clock or SystemClock()
    database = database or RPDatabase(config.database)
    app.session_interface = ServerSessionInterface(config, database, clock)
    oauth = OAuth(app)
    client = oauth.register(
        "spom",
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.issuer + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": config.scope,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "timeout": 10,
        },
    )
    app.extensions["rp"] = RP(config, clock, database, client)
    app.register_blueprint(bp)
    i18n.init_app(app)
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        current_user=current_user,
        app_name=config.name,
        issuer=config.issuer,
        account_url=config.issuer + "/account",
        other_apps=links,
    )
    app.after_request(_security_headers)
    _error_pages(app)
    return app


def current_user() -> dict[str, Any] | None:
    return session.get("user")


def login_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Sign the browser in first (silently when possible); keep the access token fresh."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if current_user() is None:
            ended = getattr(session, "ended", None)
            if ended == "signed_out":
                return render_template("rp/signed_out.html", reason="elsewhere"), 200
            # An expired session goes back through the provider silently (prompt=none) first.
            return redirect(
                url_for("rp.login", next=request.full_path.rstrip("?"), silent="1" if ended == "expired" else None)
            )
        if not _fresh_tokens():
            session.clear()
            return redirect(url_for("rp.login", next=request.full_path.rstrip("?"), silent="1"))
        return view(*args, **kwargs)

    return wrapper


def step_up_required(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """A page that needs a second factor: signed in (``login_required``), and an ID token whose ``acr``
    says a second factor was shown; otherwise back through the provider with ``acr_values``, which
    asks for the second step only (the session stays, no password)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        user = current_user() or {}
        if user.get("acr") != MFA_ACR:
            return redirect(url_for("rp.login", next=request.full_path.rstrip("?"), step_up="1"))
        return view(*args, **kwargs)

    return login_required(wrapper)


def _fresh_tokens() -> bool:
    """Refresh the access token when it has expired (by this app's clock); False if that fails."""
    tokens, ctx = session.get("tokens") or {}, rp()
    if ctx.clock.now() < tokens.get("expires_at", 0) - REFRESH_MARGIN_SECONDS:
        return True
    if not tokens.get("refresh_token"):
        return False
    try:
        new = ctx.oauth.fetch_access_token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        info = ctx.oauth.userinfo(token=new)
    except (OAuthError, OSError, ValueError) as exc:
        log.info("refresh failed: %s", getattr(exc, "error", exc.__class__.__name__))
        return False
    _store_tokens(new, keep_id_token=tokens.get("id_token"))
    session["user"] = {**session["user"], **_profile(info)}
    return True


def _store_tokens(token: dict[str, Any], keep_id_token: str | None = None) -> None:
    session["tokens"] = {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "expires_at": rp().clock.now() + int(token.get("expires_in", 0)),
        "id_token": token.get("id_token") or keep_id_token,
    }


def _profile(claims: dict[str, Any]) -> dict[str, Any]:
    roles = claims.get("roles") or []
    return {
        "name": claims.get("name") or claims.get("preferred_username"),
        "registration_number": claims.get("preferred_username"),
        "email": claims.get("email"),
        "role": roles[0] if roles else "student",
        "locale": claims.get("locale"),  # the language chosen at SPOM Login: the pages follow it
    }


def _safe_next(value: str | None) -> str:
    """Only a local path of this app: no open redirect.

    The same rule as the provider's ``idp.core.urls.safe_local_path`` (see it for why each
    check is there), written again because a relying party stands for an independent app and
    never imports the provider. Browsers drop tabs and newlines and read ``\\`` as ``/``, so
    those are refused outright; the value is resolved as a browser would and must stay here."""
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or not value.isascii()
        or "\\" in value
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        return "/"
    parts = urlsplit(urljoin(_HERE, value))
    if f"{parts.scheme}://{parts.netloc}/" != _HERE or parts.path.startswith("//"):
        return "/"
    return urlunsplit(("", "", parts.path, parts.query, parts.fragment))


_HERE = "https://this-app.invalid/"


#: A day: the icon ships with the app; the ETag revalidates it after that.
FAVICON_MAX_AGE = 86400


@bp.get("/favicon.svg")
@bp.get("/favicon.ico", endpoint="favicon_ico")  # browsers ask for it whatever the page links
def favicon() -> Response:
    """The apps' small SVG icon, cacheable (pages link /favicon.svg); a few hundred bytes, read whole."""
    response = make_response((Path(bp.static_folder or "") / "favicon.svg").read_bytes())
    response.mimetype = "image/svg+xml"
    response.cache_control.public = True
    response.cache_control.max_age = FAVICON_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/login")
def login() -> ResponseReturnValue:
    silent = request.args.get("silent") == "1"
    step_up = request.args.get("step_up") == "1"
    params: dict[str, str] = {"prompt": "none"} if silent else {}
    if step_up:
        params["acr_values"] = MFA_ACR
    elif rp().config.acr_values:
        params["acr_values"] = rp().config.acr_values
    response = rp().oauth.authorize_redirect(rp().config.redirect_uri, **params)
    state = parse_qs(urlsplit(response.location).query).get("state", [""])[0]
    _remember_pending(state, {"next": _safe_next(request.args.get("next")), "silent": silent, "step_up": step_up})
    _set_probe(response)
    return response


def _remember_pending(state: str, pending: dict[str, Any]) -> None:
    """Keep this sign-in next to the others of this browser (dropping expired and the oldest)."""
    now = rp().clock.now()
    kept = {s: p for s, p in (session.get("pending") or {}).items() if p.get("expires_at", 0) > now}
    kept[state] = {**pending, "expires_at": now + PENDING_SECONDS}
    newest = sorted(kept, key=lambda s: kept[s]["expires_at"])[-MAX_PENDING:]
    session["pending"] = {s: kept[s] for s in newest}
    for key in [k for k in session if k.startswith(AUTHLIB_STATE) and k[len(AUTHLIB_STATE) :] not in newest]:
        session.pop(key)  # Authlib's data for a sign-in no longer kept


def _take_pending(state: str) -> dict[str, Any] | None:
    """This callback's pending sign-in, removed from the session; None if unknown or expired."""
    pending = dict(session.get("pending") or {})
    found = pending.pop(state, None) if state else None
    if found is not None:
        session["pending"] = pending
    if found is None or found.get("expires_at", 0) <= rp().clock.now():
        return None
    return dict(found)


@bp.get("/callback")
def callback() -> ResponseReturnValue:
    pending = _take_pending(request.args.get("state", ""))
    if pending is None:
        return _lost_sign_in()
    error = request.args.get("error")
    if error in INTERACTION_ERRORS and pending["silent"]:
        return render_template("rp/session_expired.html", next=pending["next"]), 200
    if error:
        return _problem(_("The sign-in did not complete."), request.args.get("error_description") or error)
    try:
        token = rp().oauth.authorize_access_token(claims_cls=_clocked_id_token(rp().clock))
    except OAuthError as exc:
        if exc.error == "mismatching_state":
            return _lost_sign_in()
        return _problem(_("The sign-in did not complete."), exc.description or exc.error)
    claims = token["userinfo"]
    # The other tabs' pending sign-ins survive the new session (they are this browser's own).
    others = {k: v for k, v in session.items() if k == "pending" or k.startswith(AUTHLIB_STATE)}
    session.clear()
    session.rotate()  # a new session id after sign-in: no session fixation
    session.update(others)
    session["user"] = {
        "sub": claims["sub"],
        "sid": claims.get("sid"),
        # How the provider says the user signed in (RFC 8176 amr, and acr): step_up_required reads them.
        "amr": list(claims.get("amr") or []),
        "acr": claims.get("acr"),
        **_profile(claims),
    }
    _store_tokens(token)
    if pending.get("step_up") and claims.get("acr") != MFA_ACR:
        # Core §3.1.2.1: the provider may answer with less than asked; say so instead of asking again.
        return _problem(
            _("This page needs a second step of sign-in."), _("The sign-in did not include a second factor.")
        )
    return redirect(pending["next"])


# -- a callback for a sign-in this browser no longer has -------------------------------------------


def _probe_cookie() -> str:
    return rp().config.cookie_name + "_probe"


def _set_probe(response: Response) -> None:
    """A cookie that only says "this browser keeps cookies", set before leaving for the provider."""
    response.set_cookie(
        _probe_cookie(), "1", httponly=True, samesite="Lax", secure=rp().config.secure_cookies, path="/"
    )


def _lost_sign_in() -> ResponseReturnValue:
    """The callback's ``state`` is not pending here: already signed in, lost, or cookies refused."""
    if current_user() is not None:
        return redirect("/")  # another tab finished signing this browser in: simply continue
    if request.cookies.get(_probe_cookie()):
        return _lost_page()
    # No probe either: refused, or cleared mid-sign-in. Ask once more: set it and look again.
    response = redirect(url_for("rp.cookie_check"))
    _set_probe(response)
    return response


@bp.get("/callback/cookie-check")
def cookie_check() -> ResponseReturnValue:
    if request.cookies.get(_probe_cookie()):
        return _lost_page()
    return render_template(
        "rp/sign_in_lost.html",
        title=_("Your browser refuses cookies for this app"),
        detail=_(
            "Signing in needs one cookie that remembers your sign-in between %(app)s and "
            "SPOM Login. Allow cookies for this site in your browser's settings (private windows and "
            "strict blockers often refuse them), then sign in again.",
            app=rp().config.name,
        ),
        action=_("Sign in again"),
        next="/",
    ), 400


def _lost_page() -> tuple[str, int]:
    return render_template(
        "rp/sign_in_lost.html",
        title=_("This sign-in cannot be finished here"),
        detail=_(
            "It was started in another tab or window, or it waited too long. Nothing is wrong with your "
            "account: continue, and you will be signed in (without your password if you are still signed "
            "in to SPOM Login)."
        ),
        action=_("Continue"),
        next="/",
    ), 400


def _clocked_id_token(clock: Clock) -> type[CodeIDToken]:
    class ClockedIDToken(CodeIDToken):
        """The ID token's times checked against this app's clock (tests move it)."""

        def validate(self, now: int | None = None, leeway: int = 0) -> None:
            super().validate(now=int(clock.now()), leeway=leeway)

    return ClockedIDToken


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """RP-initiated logout: end the local session, then the provider's (which tells the other apps)."""
    check_csrf()
    id_token = (session.get("tokens") or {}).get("id_token")
    session.clear()
    session.rotate()  # the logout ``state`` goes into a fresh, anonymous session
    return rp().oauth.logout_redirect(
        post_logout_redirect_uri=rp().config.post_logout_redirect_uri, id_token_hint=id_token
    )


@bp.get("/signed-out")
def signed_out() -> str:
    # No or stale state: the page says the same, it only must not act on anything.
    with contextlib.suppress(OAuthError):
        rp().oauth.validate_logout_response()
    return render_template("rp/signed_out.html", reason="here")


@bp.post("/backchannel-logout")
def backchannel_logout() -> ResponseReturnValue:
    """Back-Channel Logout 1.0 §2.5–2.8: validate the logout token, end the matching sessions."""
    ctx = rp()
    headers = {"Cache-Control": "no-store"}
    try:
        claims = validate_logout_token(
            request.form.get("logout_token", ""),
            jwks=_jwks,
            issuer=ctx.config.issuer,
            client_id=ctx.config.client_id,
            now=ctx.clock.now(),
        )
        with ctx.database.session() as db:
            now = ctx.clock.now()
            if not remember_jti(db, claims["jti"], now + 2 * MAX_AGE_SECONDS, now):
                raise LogoutTokenError("This logout token was already used.")
            ended = end_sessions(db, sub=claims.get("sub"), sid=claims.get("sid"), now=now)
            db.commit()
    except LogoutTokenError as exc:
        log.warning("rejected logout token: %s", exc)
        return jsonify(error="invalid_request", error_description=str(exc)), 400, headers
    log.info("back-channel logout ended %d session(s)", ended)
    return "", 200, headers


def _jwks(force: bool) -> dict[str, Any]:
    return rp().oauth.fetch_jwk_set(force=force)


def _problem(title: str, detail: str, status: int = 400) -> tuple[str, int]:
    return render_template("rp/problem.html", title=title, detail=detail), status


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
    if request.endpoint not in ("static", "rp.static", "rp.favicon", "rp.favicon_ico"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _error_pages(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return _problem(exc.name, exc.description or "", exc.code or 500)

    import requests

    @app.errorhandler(requests.RequestException)
    def provider_unreachable(exc: requests.RequestException) -> tuple[str, int]:
        log.error("provider unreachable: %s", exc.__class__.__name__)
        return _problem(
            _("SPOM Login cannot be reached"),
            _("Signing in is not possible right now. Please try again in a few minutes."),
            503,
        )

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> tuple[str, int]:
        log.exception("unhandled error")
        return _problem(_("Something went wrong"), _("Please try again in a moment."), 500)
