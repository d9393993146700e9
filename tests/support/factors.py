"""Second factors in tests: enrol an authenticator app through the account page, read its key off the
QR page, and make its codes on the provider's clock (no sleeping: the clock is the test's)."""

from __future__ import annotations

import html as html_lib
import re

import pyotp

from tests.support.helpers import Browser, Provider


def form(page_html: str, action_part: str) -> dict:
    """The hidden fields and action of the first form whose action contains ``action_part``."""
    for match in re.finditer(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page_html, re.S):
        action = html_lib.unescape(match.group(1))
        if action_part in action:
            fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', match.group(2)))
            fields = {k: html_lib.unescape(v) for k, v in fields.items()}
            fields["_action"] = action
            return fields
    raise AssertionError(f"no form posting to {action_part!r} on the page")


def shown_secret(page_html: str) -> str:
    found = re.search(r'<code class="secret" translate="no">([A-Z2-7 ]+)</code>', page_html)
    assert found, "the page shows no authenticator key"
    return found.group(1).replace(" ", "")


def code(secret: str, now: float, steps: int = 0) -> str:
    """The code an authenticator app shows at ``now`` (``steps`` of 30 s later or earlier)."""
    return pyotp.TOTP(secret).at(now + 30 * steps)


def recovery_codes(page_html: str) -> list[str]:
    return re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", page_html)


def enrol_totp(browser: Browser, now: float, name: str = "My phone") -> tuple[str, list[str]]:
    """Add an authenticator app on /account of the signed-in ``browser``; its key and recovery codes."""
    page = browser.get("/account/factors/add")
    assert page.status_code == 200, page.text[:300]
    secret = shown_secret(page.text)
    fields = form(page.text, "/account/factors/totp")
    action = fields.pop("_action")
    response = browser.post(action, data={**fields, "code": code(secret, now), "name": name})
    assert response.status_code == 200, response.text[:300]
    return secret, recovery_codes(response.text)


def submit_code(browser: Browser, page, value: str, method: str | None = None):
    """Answer the second-factor page ``page`` with ``value``."""
    fields = form(page.text, "/login/second-factor")
    action = fields.pop("_action")
    if method:
        fields["method"] = method
    return browser.post(action, data={**fields, "code": value})


def user(db, login: str = "S1000001"):
    from idp.storage.sql import users as user_repo

    found = user_repo.get_user_by_login(db, login)
    assert found is not None
    return found


def enrol_totp_for(provider: Provider, login: str = "S1000001", name: str = "Phone") -> tuple[str, list[str] | None]:
    """Enrol an authenticator app for ``login`` through the use cases the pages call (no browser);
    returns its key and the recovery codes that come with an account's first factor."""
    with provider.transaction() as db:
        use_cases = provider.factors(db)
        owner = user(db, login)
        offer = use_cases.totp_offer(owner)
        enrolled = use_cases.totp_confirm(owner, offer.sealed, code(offer.secret, provider.clock.now()), name)
    return offer.secret, enrolled.recovery_codes
