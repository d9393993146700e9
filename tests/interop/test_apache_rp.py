"""Apache httpd with Debian's mod_auth_openidc in front of a page, against a live provider: the
protected page (sign-in on the provider's form), the claims the module hands the application, refresh
(OIDCRefreshAccessTokenBeforeExpiry), RP-initiated logout (its redirect URI's ``?logout=``) and
back-channel logout (its redirect URI's ``?logout=backchannel``). Configured as its documentation
says; the directives are in tests/support/interop_apache.py and docs/clients.md."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests

from tests.support.helpers import Browser, Provider, bearer, parse_form
from tests.support.interop_apache import ApacheRP, apache_rp, missing

#: The provider calls the module's back-channel endpoint on plain-http loopback: the operator's allow-list.
LOOPBACK = ("127.0.0.1/32",)


@pytest.fixture
def site(make_provider: object) -> Iterator[tuple[Provider, ApacheRP]]:
    reason = missing()
    if reason:
        pytest.fail(reason)  # never a skip: CI installs the packages (.ci/run)
    provider: Provider = make_provider(outbound_allow=LOOPBACK)  # type: ignore[operator]
    provider.create_user()
    apache = apache_rp(provider.url)
    rp = provider.create_client(
        name="Library (Apache)",
        redirect_uris=[apache.redirect_uri],
        post_logout_redirect_uris=[apache.signed_out_url],
        backchannel_logout_uri=apache.backchannel_logout_uri,
        trusted=True,
    )
    assert rp.client_secret
    apache.client_id, apache.client_secret = rp.client_id, rp.client_secret
    with apache:
        yield provider, apache


def browse(browser: Browser, url: str) -> requests.Response:
    """Follow every redirect between the site and the provider, signing in on the provider's form."""
    response = browser.get(url)
    for _ in range(12):
        if response.status_code in (302, 303):
            response = browser.get(urljoin(response.url, response.headers["Location"]))
        elif response.status_code == 200 and 'name="password"' in response.text:
            response = browser.submit_login(response)
        else:
            return response
    raise AssertionError(f"too many redirects, last {response.url}")


def claims(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text[:500]
    return dict(line.split("=", 1) for line in response.text.strip().splitlines())


def test_protected_page_claims_and_refresh(site: tuple[Provider, ApacheRP]) -> None:
    provider, apache = site
    browser = provider.browser()
    first = browser.get(apache.claims_url)
    assert first.status_code == 302 and first.headers["Location"].startswith(provider.url + "/authorize")

    page = claims(browse(browser, apache.claims_url))
    assert page["email"] == "ada@example.edu" and page["name"] == "Ada Lovelace" and page["roles"] == "student"
    assert page["sub"] and page["remote_user"].startswith(page["sub"] + "@")
    me = requests.get(provider.url + "/userinfo", headers=bearer(page["access_token"]), timeout=5).json()
    assert me["sub"] == page["sub"]

    # Signed in: no trip to the provider; the module refreshes the access token (rotating the refresh token).
    again = browser.get(apache.claims_url)
    refreshed = claims(again)
    assert refreshed["sub"] == page["sub"]
    assert refreshed["access_token"] != page["access_token"] and refreshed["refresh_token"] != page["refresh_token"]
    me = requests.get(provider.url + "/userinfo", headers=bearer(refreshed["access_token"]), timeout=5).json()
    assert me["sub"] == page["sub"]


def test_rp_initiated_logout(site: tuple[Provider, ApacheRP]) -> None:
    provider, apache = site
    browser = provider.browser()
    claims(browse(browser, apache.claims_url))

    # The module sends id_token_hint and post_logout_redirect_uri; the provider signs out without asking.
    response = browser.follow(browser.get(apache.logout_url()), stop_at=apache.signed_out_url)
    assert response.status_code in (302, 303), response.text[:500]
    assert response.headers["Location"].startswith(apache.signed_out_url)

    # Both sessions are gone: the site sends the browser to the provider, which asks for the password.
    back = browser.follow(browser.get(apache.claims_url), stop_at=apache.redirect_uri)
    assert back.status_code == 200 and 'name="password"' in back.text


def test_back_channel_logout(site: tuple[Provider, ApacheRP]) -> None:
    provider, apache = site
    browser = provider.browser()
    claims(browse(browser, apache.claims_url))

    # The user signs out at the provider itself (not through the site): only the logout token tells the site.
    page = browser.get(provider.url + "/logout")
    form = parse_form(page.text)
    form["confirm"] = "yes"
    browser.post(form.pop("_action"), data=form)
    assert claims(browser.get(apache.claims_url))["sub"]  # the site's own session still lives

    assert provider.flush_logouts() == 1
    [delivered] = provider.audit_events(type="logout.backchannel_delivered")  # the module answered 200
    assert delivered.client_id == apache.client_id
    after = browser.get(apache.claims_url)
    assert after.status_code == 302 and after.headers["Location"].startswith(provider.url + "/authorize"), apache.logs()
