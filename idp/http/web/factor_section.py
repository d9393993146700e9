"""What the account page's "Sign-in methods" section shows (its routes: ``account_factors``)."""

from __future__ import annotations

from typing import Any

from idp.http import usecases
from idp.http.session import SignedIn


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
