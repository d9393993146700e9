"""A favicon on all three servers: a small cacheable SVG, linked from every page, and at /favicon.ico
(browsers ask for it whatever a page links), so no browser's tab logs a 404."""

from __future__ import annotations

import pytest

from clients import dashboard, supplier_portal
from clients.common import RPConfig


@pytest.fixture
def http(provider):
    return provider.app.test_client()


def test_the_provider_serves_its_favicon_in_the_brand_colour_with_caching(http):
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = http.get(path)
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml", path
        assert icon.text.startswith("<svg") and 'fill="#0b5cad"' in icon.text
        assert icon.headers["Cache-Control"] in ("public, max-age=86400", "max-age=86400, public")
        again = http.get(path, headers={"If-None-Match": icon.headers["ETag"]})
        assert again.status_code == 304 and not again.data


@pytest.mark.parametrize("path", ["/login", "/help", "/logn"])
def test_every_provider_page_links_the_favicon(http, path):
    page = http.get(path, headers={"Accept": "text/html"})
    assert '<link rel="icon" href="/favicon.svg" type="image/svg+xml">' in page.text


@pytest.mark.parametrize("module", [dashboard, supplier_portal])
def test_both_relying_parties_serve_and_link_a_favicon(module, tmp_path):
    config = RPConfig(
        name="App",
        issuer="http://127.0.0.1:9",  # never called: neither the icon nor the error page needs the provider
        client_id="c",
        client_secret="s",
        base_url="http://127.0.0.1:8001",
        secret_key="k" * 32,
        database=str(tmp_path / "rp.sqlite3"),
        cookie_name="rp_session",
    )
    client = module.create_app(config).test_client()
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml", path
        assert icon.data.startswith(b"<svg") and "max-age=86400" in icon.headers["Cache-Control"]
        assert "no-store" not in icon.headers["Cache-Control"]
    page = client.get("/no-such-page")
    assert page.status_code == 404 and '<link rel="icon" href="/favicon.svg"' in page.text
