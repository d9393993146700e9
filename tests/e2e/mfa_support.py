"""Second factors set up the way the pages do it (``Factors`` on the provider's database), for the tests
of the help desk's commands, the admin API and the mails (test_cli_mfa.py, test_admin_api_mfa.py,
test_mfa_mails.py)."""

from __future__ import annotations

import pyotp

from tests.support.helpers import Provider


def factors(provider: Provider, db, **extra):
    """The second-factor use cases on ``db`` with the provider's backends (its clock, throttle, mail)."""
    from idp.domain.factors.service import Factors

    d = provider.deps
    return Factors(db=db, settings=d.settings, now=d.clock.now, throttle=d.throttle, notifier=d.notifier, **extra)


def user(db, login: str = "S1000001"):
    from idp.storage.sql import users as user_repo

    found = user_repo.get_user_by_login(db, login)
    assert found is not None
    return found


def enrol_totp(provider: Provider, login: str = "S1000001", name: str = "Phone") -> tuple[str, list[str] | None]:
    """Enrol an authenticator app for ``login`` (scan, type the code shown now); returns (its key, the
    recovery codes that come with an account's first factor)."""
    with provider.transaction() as db:
        use_cases = factors(provider, db)
        owner = user(db, login)
        offer = use_cases.totp_offer(owner)
        code = pyotp.TOTP(offer.secret).at(provider.clock.now())
        enrolled = use_cases.totp_confirm(owner, offer.sealed, code, name)
    return offer.secret, enrolled.recovery_codes
