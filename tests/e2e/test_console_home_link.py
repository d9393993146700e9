"""The provider's home page links the console (``IDP_CONSOLE_URL``) for people who hold a console role,
and for no one else (issue 20)."""

from __future__ import annotations

from tests.e2e.test_account import signed_in_browser
from tests.support.factors import user

CONSOLE = "https://console.example.edu"


def test_the_home_page_links_the_console_only_for_people_with_a_console_role(make_provider):
    provider = make_provider(console_url=CONSOLE)
    provider.create_user()
    browser = signed_in_browser(provider)
    assert 'id="console-link"' not in browser.get("/").text
    with provider.transaction() as db:
        provider.accounts(db).grant_role(user(db), "team:library")
    home = browser.get("/").text
    assert f'<a href="{CONSOLE}" id="console-link">Console</a>' in home
    assert 'id="console-link"' not in provider.browser().get("/").text  # signed out: no link


def test_without_a_console_url_there_is_no_link(make_provider):
    provider = make_provider()
    provider.create_user()
    with provider.transaction() as db:
        provider.accounts(db).grant_role(user(db), "idp:admin")
    assert 'id="console-link"' not in signed_in_browser(provider).get("/").text
