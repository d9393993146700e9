"""The page templates carry no inline script, event handler or style: the Content-Security-Policy
(tested on the pages in tests/http/test_ops.py) would block them in the browser."""

from __future__ import annotations

import re

import pytest

from tests.support.constants import ROOT

TEMPLATES = ROOT / "idp" / "http" / "web" / "templates"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_have_no_inline_script_or_style(template):
    """The CSP would block them in the browser: keep them out of the markup in the first place."""
    html = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    assert not re.search(r"\sstyle\s*=", html, re.I) and "<style" not in html.lower()
