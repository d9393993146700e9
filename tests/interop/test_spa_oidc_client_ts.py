"""oidc-client-ts (pinned in package-lock.json), the common single-page-app library, in Chromium:
a public client served from its own loopback origin signs in by redirect (code flow with PKCE),
loads UserInfo, refreshes with the refresh token (``signinSilent``), revokes its tokens and signs
out with ``id_token_hint``. Every call from the page to the provider is a cross-origin fetch, so
this also proves the provider's CORS (docs/clients.md, "Single-page apps")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.interop.conftest import StaticSite, require_package
from tests.support.helpers import PASSWORD, Provider, bearer

SPA_DIR = Path(__file__).parent / "spa"


@pytest.fixture
def spa(provider: Provider, static_site: StaticSite) -> dict[str, Any]:
    """The app's files, the library's browser bundle from node_modules (no CDN), and a public
    client registered as docs/clients.md says (redirect URIs on the app's origin)."""
    bundle = require_package("oidc-client-ts") / "dist" / "browser" / "oidc-client-ts.min.js"
    shutil.copy(bundle, static_site.root / bundle.name)
    for page in SPA_DIR.iterdir():
        shutil.copy(page, static_site.root / page.name)
    rp = provider.create_client(
        name="Timetable",
        public=True,
        redirect_uris=[static_site.url + "/callback.html"],
        post_logout_redirect_uris=[static_site.url + "/signed-out.html"],
        scope="openid profile email offline_access",
    )
    (static_site.root / "settings.json").write_text(json.dumps({"authority": provider.url, "client_id": rp.client_id}))
    return {"url": static_site.url, "client_id": rp.client_id}


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def current_user(page: Page) -> dict[str, Any]:
    return page.evaluate(
        "async () => { const u = await (await window.app).getUser(); return u && u.toStorageString() }"
    )


def test_spa_sign_in_userinfo_refresh_revoke_sign_out(provider, spa, page):
    provider.create_user()
    failed: list[str] = []
    # A blocked cross-origin call shows only here ("… has been blocked by CORS policy"); the
    # browser's own favicon requests (none on either origin) are not the app's.
    page.on(
        "console",
        lambda m: (
            failed.append(m.text) if m.type == "error" and not m.location["url"].endswith("/favicon.ico") else None
        ),
    )
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))

    page.goto(spa["url"] + "/")
    expect(page.locator("body")).to_have_attribute("data-state", "anonymous")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(provider.url + "/**")
    page.get_by_label("Registration number or e-mail").fill("S1000001")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Back at the app: the code was exchanged at /token and the profile loaded from /userinfo.
    expect(page.locator("body")).to_have_attribute("data-state", "signed-in")
    assert page.url == spa["url"] + "/"
    profile = json.loads(page.locator("#who").text_content() or "{}")
    assert profile["email"] == "ada@example.edu" and profile["name"] == "Ada Lovelace"
    user = json.loads(current_user(page))
    assert user["refresh_token"] and user["id_token"] and user["token_type"].lower() == "bearer"
    assert user["profile"]["sub"] == profile["sub"]

    # signinSilent() with a refresh token in the store is the refresh_token grant (no iframe).
    page.evaluate("async () => { await (await window.app).signinSilent() }")
    refreshed = json.loads(current_user(page))
    assert refreshed["access_token"] != user["access_token"]
    assert refreshed["refresh_token"] != user["refresh_token"]
    assert refreshed["profile"]["sub"] == profile["sub"]
    assert refreshed["id_token"], "no id_token left for the logout hint"
    me = requests.get(provider.url + "/userinfo", headers=bearer(refreshed["access_token"]), timeout=5)
    assert me.status_code == 200 and me.json()["sub"] == profile["sub"]

    # revokeTokens(): POST /revoke for each token (revokeTokenTypes: access, then refresh); both stop working.
    page.evaluate("async () => { await (await window.app).revokeTokens() }")
    me = requests.get(provider.url + "/userinfo", headers=bearer(refreshed["access_token"]), timeout=5)
    assert me.status_code == 401
    refresh = requests.post(
        provider.url + "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": spa["client_id"],
        },
        timeout=5,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"

    # signoutRedirect(): /logout with id_token_hint and the registered post_logout_redirect_uri.
    logout: list[str] = []
    page.on("request", lambda r: logout.append(r.url) if r.url.startswith(provider.url + "/logout") else None)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("body")).to_have_attribute("data-state", "signed-out")
    assert page.url.startswith(spa["url"] + "/signed-out.html")
    assert logout and "id_token_hint=" in logout[0]
    assert [e for e in provider.audit_events(type="logout") if e.client_id == spa["client_id"]]
    assert current_user(page) is None
    assert not failed, failed
