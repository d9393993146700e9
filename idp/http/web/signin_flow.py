"""The sign-in's steps after the password (issue 19): the pending sign-in that waits for a second
factor, who a second-factor page is for, and how a sign-in ends (a session, the way back to the app).
The pages are ``idp.http.web.second_factor``; the rules are ``idp.domain.factors.policy``.

A password that was right while a second factor is still due is a *pending sign-in*: a record in the
store (``PENDING_KEY`` + hash of a random id carried in the URL and form), bound to this browser like
an interaction, living ``IDP_INTERACTION_SECONDS``. No session, no cookie, nothing an app could use
exists until the second factor is shown. Both subjects, pending and signed in (a step-up), go
through the same pages (``Subject``) and end through ``finish``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from idp.core.tokens import equals, new_token, token_hash
from idp.domain import sessions
from idp.domain.factors import policy as mfa_policy
from idp.http import i18n, uow, usecases
from idp.http import session as web_session
from idp.http.context import deps
from idp.http.protocol import interactions
from idp.http.protocol.app_return import WayBack
from idp.http.session import SignedIn
from idp.http.web import device as web_device
from idp.storage.sql import audit
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import User

PENDING_KEY = "signin-pending:"


# -- the pending sign-in ---------------------------------------------------------------------


@dataclass
class Pending:
    """A password sign-in that still needs its second step (or the enrolment of one)."""

    id: str
    user_id: int
    amr: list[str]
    device_id: str | None
    browser: str
    created_at: float

    def save(self) -> None:
        store, ttl = deps().store, deps().settings.sessions.interaction_seconds
        data = {k: v for k, v in asdict(self).items() if k != "id"}
        uow.on_commit(lambda: store.put(PENDING_KEY + token_hash(self.id), data, ttl))

    def discard(self) -> None:
        store = deps().store
        uow.on_commit(lambda: store.delete(PENDING_KEY + token_hash(self.id)))


def start_pending(user: User, amr: list[str], device_id: str | None) -> Pending:
    pending = Pending(new_token(), user.id, amr, device_id, interactions.browser_hash(), deps().now())
    pending.save()
    return pending


def load_pending(pending_id: str | None) -> Pending | None:
    """This browser's pending sign-in ``pending_id``, if it is still there and young enough."""
    if not pending_id or len(pending_id) > 100:
        return None
    data = deps().store.get(PENDING_KEY + token_hash(pending_id))
    if not isinstance(data, dict):
        return None
    try:
        pending = Pending(id=pending_id, **data)
    except TypeError:  # saved by another release
        return None
    if deps().now() - pending.created_at >= deps().settings.sessions.interaction_seconds:
        return None
    cookie = request.cookies.get(interactions.browser_cookie_name(), "")
    if not cookie or not equals(token_hash(cookie), pending.browser):
        return None
    return pending


# -- who is on the page ----------------------------------------------------------------------


@dataclass
class Subject:
    """The person the second-factor pages are for: a pending sign-in, or a signed-in session."""

    user: User
    way: WayBack
    pending: Pending | None = None
    signed_in: SignedIn | None = None

    def fields(self) -> dict[str, str]:
        """What the page's forms carry on (besides the way back)."""
        return {"pending": self.pending.id} if self.pending else {}


def subject() -> Subject | None:
    """From the request's ``pending`` field (a pending sign-in) or else the signed-in session."""
    way = WayBack.from_request()
    pending_id = request.values.get("pending")
    if pending_id:
        pending = load_pending(pending_id)
        user = user_repo.get_user(uow.session(), pending.user_id) if pending else None
        if pending is None or user is None or not user.active:
            return None
        return Subject(user, way, pending=pending)
    signed_in = web_session.current()
    return Subject(signed_in.user, way, signed_in=signed_in) if signed_in else None


# -- after the password, and at the end ------------------------------------------------------


def after_password(user: User, device_id: str | None, way: WayBack) -> ResponseReturnValue:
    """Where a right password leads: the second step, the enrolment, or the app (with a session)."""
    settings, now = deps().settings.mfa, deps().now()
    enrolled = usecases.factors().enrolled(user)  # one query, the only one a sign-in adds
    if mfa_policy.counts_towards_grace(user, settings, enrolled=enrolled):
        mfa_policy.count_grace_signin(user, now)
    standing = mfa_policy.enrolment(user, settings, enrolled=enrolled, now=now)
    if standing.enrolled or standing.forced:
        pending = start_pending(user, ["pwd"], device_id)
        _record(audit.LOGIN_PASSWORD_VERIFIED, user, device_id, way, second_step="enrol" if standing.forced else "ask")
        return redirect(way.url("web.second_factor", pending=pending.id), 303)
    _record(audit.LOGIN_SUCCESS, user, device_id, way)
    if standing.in_grace:
        complete_signin(user, ["pwd"], device_id, way)
        return redirect(way.url("web.second_factor_grace"), 303)
    url = complete_signin(user, ["pwd"], device_id, way)
    # 302 to the provider's own pages (as before second factors), 303 to the app's home.
    return redirect(url, 303 if url == way.home else 302)


def _record(type: str, user: User, device_id: str | None, way: WayBack, **details: object) -> None:
    # The client's id as the sign-in carries it (``way.client`` would read the client row again).
    interaction, back = way.interaction, way.back
    client_id = interaction.client_id if interaction else back.client.client_id if back else None
    usecases.signin().record(type, user, client_id=client_id, device=bool(device_id), **details)


def complete_signin(user: User, amr: list[str], device_id: str | None, way: WayBack) -> str:
    """Start the session (every factor shown), and the address to continue to."""
    signed_in = web_session.sign_in(user, amr)
    if "mfa" in amr:
        signed_in.session.mfa_at = deps().now()
    i18n.remember_choice(user)
    web_device.remember(user.id, device_id)
    return continue_url(signed_in, way)


def continue_url(signed_in: SignedIn, way: WayBack) -> str:
    """After the sign-in (or its step-up): the app's pending request, its home, or the provider's."""
    interaction = way.interaction
    if interaction is not None:
        interaction.record_login(signed_in.user.id, signed_in.session.id)
        interaction.save()
        return url_for("protocol.resume", interaction=interaction.id)
    return way.home or url_for("web.home")


def finish(who: Subject, method: list[str]) -> str:
    """``who`` showed a second factor (``method``: its ``amr``); where to go next."""
    if who.pending is not None:
        who.pending.discard()
        amr = mfa_policy.with_second_factor(who.pending.amr, method)
        _record(audit.LOGIN_SUCCESS, who.user, who.pending.device_id, who.way, amr=amr)
        return complete_signin(who.user, amr, who.pending.device_id, who.way)
    signed_in = who.signed_in
    if signed_in is None:  # subject() returns one of the two
        raise RuntimeError("a second factor without a sign-in")
    amr = mfa_policy.with_second_factor(signed_in.session.amr or [], method)
    sessions.step_up(uow.session(), signed_in, amr, deps().now())
    client = who.way.client
    usecases.factors().record_step_up(who.user, amr, client.client_id if client else None)
    return continue_url(signed_in, who.way)


def passwordless(user: User, amr: list[str], way: WayBack) -> str:
    """A passkey that verified its user signed in without a password (``idp.http.web.passkeys``)."""
    device_id = web_device_id(user)
    _record(audit.LOGIN_SUCCESS, user, device_id, way, amr=amr, method="passkey")
    return complete_signin(user, amr, device_id, way)


def web_device_id(user: User) -> str | None:
    return web_device.devices().device_for(web_device.read(), user.id)
