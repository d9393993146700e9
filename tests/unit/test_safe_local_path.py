"""The one parser for ``next``-style redirect targets (``idp.core.urls.safe_local_path``)."""

from __future__ import annotations

import pytest

from idp.core.urls import safe_local_path


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/", "/"),
        ("/account", "/account"),
        ("/help?topic=password#reset", "/help?topic=password#reset"),
        ("/login?interaction=abc&next=%2Fx", "/login?interaction=abc&next=%2Fx"),
        ("/a/../help", "/help"),  # dot segments resolved as a browser would
        ("/ok/", "/ok/"),
        ("///evil.example", "/evil.example"),  # rebuilt from its parts: a path here, never //host
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # browsers keep %2F encoded: a path here
    ],
)
def test_local_paths_are_kept_normalised(value, expected):
    assert safe_local_path(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "account",
        "",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        " /x",
        "/ /evil",
        "/\u3000/evil",
        "/\x00",
        "/\x7f",
        "/.//evil.example",
        "/é",
        "/\uff0f/evil.example",
        "/" + "a" * 2001,
    ],
)
def test_everything_else_falls_back_to_the_default(value):
    assert safe_local_path(value) == "/"
    assert safe_local_path(value, default="/account") == "/account"


@pytest.mark.parametrize("value", [None, 7, b"/x", ["/x"]])
def test_non_strings_fall_back_to_the_default(value):
    assert safe_local_path(value) == "/"
