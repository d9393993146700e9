"""Touch targets at phone width (docs/ux.md promises 44 px; WCAG 2.2 2.5.5 AAA, beyond 2.5.8's 24 px):
every visible link, button and checkbox on the provider's pages is at least 44 x 44 CSS px, except a
link inside a sentence of running text (the "inline" exception of WCAG 2.5.8). Chromium through
Playwright, at 390 x 844 (a current phone), in English and German (longer words wrap differently)."""

from __future__ import annotations

import json

import pytest

from idp.storage.sql.users import get_user_by_login
from tests.support.helpers import PASSWORD

PHONE = {"width": 390, "height": 844}
MINIMUM = 44
# What is measured is the pages' layout, the same on every storage backend.
pytestmark = pytest.mark.one_backend

#: Every interactive element and its box; a checkbox counts by the label around it (tapping the label ticks it).
MEASURE = r"""() => {
  const found = [];
  for (const el of document.querySelectorAll('a[href], button, input[type=checkbox], input[type=radio], select, summary')) {
    const target = el.matches('input[type=checkbox], input[type=radio]') ? (el.closest('label') || el) : el;
    const box = target.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || box.width <= 1 || box.height <= 1 || box.right <= 0 || box.bottom <= 0) continue;
    let inSentence = false;
    if (el.tagName === 'A' && style.display === 'inline') {
      const block = el.parentElement.closest('p, li, dd, td');
      if (block) {
        const rest = block.cloneNode(true);
        rest.querySelectorAll('a, button, form, input').forEach((n) => n.remove());
        inSentence = /\p{L}{2,}/u.test(rest.textContent);
      }
    }
    found.push({what: el.tagName.toLowerCase() + ' "' + (el.textContent || el.value || '').trim().slice(0, 40) + '"',
                width: Math.round(box.width * 10) / 10, height: Math.round(box.height * 10) / 10, inSentence});
  }
  return found;
}"""


@pytest.fixture
def site(make_provider):
    provider = make_provider(help_contact_email="it@example.edu", help_contact_phone="+49 30 1234 5678")
    provider.create_user()
    provider.rp = provider.create_client(name="Library", trusted=False)
    return provider


@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_link_and_button_is_a_44_px_target_at_phone_width(site, browser, lang):
    context = browser.new_context(viewport=PHONE, locale=lang, extra_http_headers={"Accept-Language": lang})
    page = context.new_page()
    page.set_default_timeout(10_000)
    small: dict[str, list[dict]] = {}

    def measure(name: str) -> None:
        page.wait_for_load_state()
        targets = page.evaluate(MEASURE)
        assert targets, f"{name}: nothing measured"
        if found := [t for t in targets if not t["inSentence"] and min(t["width"], t["height"]) < MINIMUM]:
            small[name] = found

    try:
        page.goto(site.rp.authorization_url())
        measure("sign-in")
        page.locator("#username").fill("S1000001")
        page.locator("#password").fill("not the password")
        page.locator("form button[type=submit]").first.click()
        measure("sign-in error")
        page.locator("#password").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        page.locator("button[value=allow]").wait_for()
        measure("consent")
        page.goto(site.url + "/account")
        measure("account")
        for path in ("/help", "/password/forgot", "/password/reset?token=not-a-real-token", "/"):
            page.goto(site.url + path)
            measure(path)
        with site.transaction() as db:
            link = site.accounts(db).issue_link(get_user_by_login(db, "S1000001"))
        page.goto(link)
        measure("reset")
        page.goto(site.url + "/password/forgot")
        page.locator("input[type=text], input[type=email]").first.fill("S1000001")
        page.locator("form button[type=submit]").first.click()
        measure("reset link sent")
    finally:
        context.close()
    assert not small, json.dumps(small, indent=1, ensure_ascii=False)
