"""What the account page's "Sign-in methods" section shows (its routes: ``account_factors``)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from idp.http import usecases
from idp.http.context import deps
from idp.http.session import SignedIn

#: Adding or removing a sign-in method on the account page needs a sign-in (or second step) this
#: recent: a session taken over later (an unlocked computer, a stolen cookie) could otherwise plant
#: a passkey that signs in alone, or an authenticator app the owner does not have and is then asked for.
RECENT_SECONDS = 900
NOT_RECENT = _l(
    "For your security, changing your sign-in methods needs a recent sign-in. Sign out, sign in again, "
    "and then try once more."
)


def recently_signed_in(signed_in: SignedIn) -> bool:
    session = signed_in.session
    return deps().now() - max(session.auth_time, session.mfa_at or 0) < RECENT_SECONDS


def section(signed_in: SignedIn, *, offer: str | None = None, add: bool = False) -> dict[str, Any]:
    """What the "Sign-in methods" section shows (template ``_account_factors.html``)."""
    factors = usecases.factors()
    user = signed_in.user
    return {
        "factors": factors.factors_of(user),
        "recovery_left": factors.recovery_codes_left(user),
        "standing": factors.standing(user),
        "offer": factors.totp_offer(user, offer) if add else None,
    }
