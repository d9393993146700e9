"""The admin console as the tests see it (issue 20): its client (``console_spec``), people with console
roles, and a person's console access token got the way the console gets one: the code flow with the
password and an authenticator-app code, on the provider's clock (no sleeping).

    token = console_token(provider, user, roles=["team:alpha"])
    requests.get(provider.url + "/admin/api/clients", headers=bearer(token))
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from idp.domain.clients.rules import console_spec
from tests.support.factors import code, enrol_totp_for, submit_code
from tests.support.helpers import CALLBACK, PASSWORD, Browser, Provider, RelyingParty

#: The console's base URL in tests: its redirect URI is then ``CALLBACK``, where the test browser stops.
CONSOLE_BASE = CALLBACK.removesuffix("/callback")
#: What the console asks for at sign-in.
CONSOLE_SCOPES = "openid profile idp:console"


@dataclass
class _State:
    console: RelyingParty | None = None
    #: Authenticator-app keys enrolled by ``console_token`` (or given to it), by registration number.
    secrets: dict[str, str] = field(default_factory=dict)


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(provider: Provider) -> _State:
    return _states.setdefault(provider.app, _State())


def console_client(provider: Provider, base_url: str = CONSOLE_BASE, **changes: Any) -> RelyingParty:
    """Register the console (``console_spec(base_url)``: confidential, trusted, ``idp:console`` scope, every
    sign-in with a second factor) with ``changes`` to the spec, e.g. ``default_acr_values=None``. Without a
    ``backchannel_logout_uri`` unless given (the provider calls only allow-listed plain-http loopback)."""
    changes.setdefault("backchannel_logout_uri", None)
    return provider.create_client(**asdict(replace(console_spec(base_url), **changes)))


def the_console(provider: Provider) -> RelyingParty:
    """The provider's console client, registered at first use."""
    state = _state(provider)
    if state.console is None:
        state.console = console_client(provider)
    return state.console


def _login(user: Any) -> str:
    return user if isinstance(user, str) else user.registration_number


def grant_roles(provider: Provider, user: Any, *roles: str) -> None:
    """Give ``user`` (a row or a registration number) console roles, as ``idp users grant-role`` does."""
    from idp.domain.staff import parse_role
    from tests.support.factors import user as user_row

    with provider.transaction() as db:
        accounts, row = provider.accounts(db), user_row(db, _login(user))
        for role in roles:
            accounts.grant_role(row, parse_role(role))


def revoke_roles(provider: Provider, user: Any, *roles: str) -> None:
    from tests.support.factors import user as user_row

    with provider.transaction() as db:
        accounts, row = provider.accounts(db), user_row(db, _login(user))
        for role in roles:
            accounts.revoke_role(row, role)


def enrolled_secret(provider: Provider, user: Any) -> str:
    """The key of the authenticator app ``console_token`` enrolled for ``user`` (enrolling one if none)."""
    secrets = _state(provider).secrets
    login = _login(user)
    if login not in secrets:
        secrets[login] = enrol_totp_for(provider, login, name="Console test phone")[0]
    return secrets[login]


@dataclass
class ConsoleSignIn:
    """A finished console sign-in: the token response, the browser (signed in at the provider), the client."""

    tokens: dict
    browser: Browser
    console: RelyingParty

    @property
    def access_token(self) -> str:
        return self.tokens["access_token"]


def console_sign_in(
    provider: Provider,
    user: Any,
    *,
    roles: tuple[str, ...] | list[str] = (),
    console: RelyingParty | None = None,
    browser: Browser | None = None,
    password: str = PASSWORD,
    second_factor: bool = True,
    totp_secret: str | None = None,
    scope: str = CONSOLE_SCOPES,
) -> ConsoleSignIn:
    """Sign ``user`` (a row or a registration number, already created) in to the console through the
    pages: ``/authorize``, the password, the authenticator-app code (an app is enrolled first if the
    user has none from here, or give the key of one enrolled otherwise as ``totp_secret``;
    ``second_factor=False``: none, for a console client that does not ask one), then the code exchange.
    ``roles`` are granted first. Each code is made 30 s later on the provider's clock than the last."""
    login = _login(user)
    if roles:
        grant_roles(provider, login, *roles)
    rp = console or the_console(provider)
    browser = browser or provider.browser()
    if totp_secret is not None:
        _state(provider).secrets[login] = totp_secret
    secret = enrolled_secret(provider, login) if second_factor else None
    assert rp.redirect_uri is not None
    page = browser.follow(browser.get(rp.authorization_url(scope)), stop_at=rp.redirect_uri)
    for _step in range(5):
        if page.status_code in (302, 303) and page.headers["Location"].startswith(rp.redirect_uri):
            break
        if 'name="password"' in page.text:
            page = browser.follow(browser.submit_login(page, login, password), stop_at=rp.redirect_uri)
        elif "/login/second-factor" in page.url and secret is not None:
            provider.clock.advance(30)  # a step no code was used in yet (a code works once)
            page = browser.follow(
                submit_code(browser, page, code(secret, provider.clock.now())), stop_at=rp.redirect_uri
            )
        elif page.status_code == 200 and "Allow" in page.text:
            page = browser.follow(browser.submit_consent(page), stop_at=rp.redirect_uri)
        else:
            raise AssertionError(f"console sign-in stuck at {page.url}: {page.status_code} {page.text[:300]}")
    else:
        raise AssertionError("console sign-in did not reach the console's callback")
    tokens = rp.exchange(page.headers["Location"])
    return ConsoleSignIn(tokens=tokens, browser=browser, console=rp)


def console_token(provider: Provider, user: Any, **options: Any) -> str:
    """A person's console access token for ``user`` (see ``console_sign_in`` for ``roles``, ``console``,
    ``browser``, ``password``, ``second_factor``, ``totp_secret``, ``scope``)."""
    return console_sign_in(provider, user, **options).access_token
