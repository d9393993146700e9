"""When to ask the user to sign in or consent: a list of named checks, each with its reason.

State machine of an authorization request (one ``/authorize`` or ``/authorize/resume``):

    validate (Authlib) ──error──► redirect with error (or error page if redirect_uri unknown)
        │
        ▼
    LOGIN checks ──any applies──► prompt=none? login_required : sign-in page ──► resume
        │ none
        ▼
    MFA checks ──any applies──► prompt=none? interaction_required : second-factor page ──► resume
        │ none                  (a step-up of the session in place, or the enrolment first)
        ▼
    CONSENT checks ──any applies──► prompt=none? consent_required : consent page ──► resume
        │ none
        ▼
    issue code (redirect with code, state, iss)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from idp.domain.sessions import SignedIn


@dataclass
class Context:
    now: float
    signed_in: SignedIn | None
    prompts: set[str]
    max_age: int | None
    hint_sub: str | None
    client_trusted: bool
    has_consent: Callable[[], bool]
    login_done: bool = False
    consent_done: bool = False
    #: Asked only after the login checks passed: must this request's session have shown a second
    #: factor (``acr_values``, the client's ``default_acr_values``, the user's role), and must the
    #: user set one up first (the role's grace is over, or the help desk reset the factors)?
    mfa_wanted: Callable[[], bool] = lambda: False
    enrolment_forced: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class Check:
    name: str
    reason: str
    applies: Callable[[Context], bool]


def _stale(c: Context) -> bool:
    # signed_in is None only when ``no_session`` applied first.
    if c.max_age is None or c.login_done or c.signed_in is None:
        return False
    # Core §3.1.2.1: re-authenticate if the elapsed time is greater than max_age; max_age=0
    # means always (as Keycloak and node oidc-provider treat it).
    elapsed = c.now - c.signed_in.session.auth_time
    return c.max_age == 0 or elapsed > c.max_age


LOGIN_CHECKS = (
    Check("no_session", "The browser has no provider session.", lambda c: c.signed_in is None),
    Check("prompt_login", "The client asked for prompt=login.", lambda c: "login" in c.prompts and not c.login_done),
    Check(
        "select_account",
        "The client asked to choose an account.",
        lambda c: "select_account" in c.prompts and not c.login_done,
    ),
    Check("max_age", "The last sign-in is older than max_age allows.", _stale),
    Check(
        "id_token_hint",
        "The ID token hint names another user.",
        lambda c: (
            c.hint_sub is not None
            and not c.login_done
            and c.signed_in is not None
            and c.hint_sub != c.signed_in.user.sub
        ),
    ),
)


def _mfa_missing(c: Context) -> bool:
    """The request wants a second factor and this session has not shown one, or (with ``max_age``)
    not recently enough. A session that has is not asked again, and costs no query."""
    if c.signed_in is None:
        return False
    session = c.signed_in.session
    shown = "mfa" in (session.amr or []) and session.mfa_at is not None
    # Shown for this very request (a sign-in or step-up made for it), or within max_age.
    recent = shown and (
        c.login_done or c.max_age is None or (c.max_age > 0 and c.now - (session.mfa_at or 0) <= c.max_age)
    )
    if recent:
        return False
    return c.mfa_wanted()


MFA_CHECKS = (
    Check(
        "enrolment_forced",
        "The user must set up a second factor before signing in to any app.",
        lambda c: c.signed_in is not None and c.enrolment_forced(),
    ),
    Check("mfa", "The request needs a second factor that this session has not shown.", _mfa_missing),
)

CONSENT_CHECKS = (
    Check(
        "prompt_consent",
        "The client asked for prompt=consent.",
        lambda c: "consent" in c.prompts and not c.consent_done,
    ),
    Check(
        "consent_missing",
        "The user has not yet approved these scopes for this client.",
        lambda c: not c.client_trusted and not c.consent_done and not c.has_consent(),
    ),
)


def first_applicable(checks: Iterable[Check], ctx: Context) -> Check | None:

    for check in checks:
        if check.applies(ctx):
            return check
    return None


def decide(ctx: Context) -> tuple[str, Check] | None:
    """("login" | "mfa" | "consent", check) for the first check that applies, else None."""
    check = first_applicable(LOGIN_CHECKS, ctx)
    if check is not None:
        return "login", check
    check = first_applicable(MFA_CHECKS, ctx)
    if check is not None:
        return "mfa", check
    check = first_applicable(CONSENT_CHECKS, ctx)
    if check is not None:
        return "consent", check
    return None
