"""idp/core/params.py, as properties over any input: ASCII-only numbers, HTTP Basic credentials as
RFC 6749 §2.3.1 encodes them, and local paths no browser reads as another host. Each parser
either returns a value or raises ``ParameterError``, never anything else (that was a 500)."""

from __future__ import annotations

import base64
import re
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.core.params import ParameterError, ascii_int, ascii_number, basic_credentials, parse_max_age
from idp.core.urls import safe_local_path

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)
ANY_TEXT = st.one_of(
    st.text(),
    st.sampled_from(["²", "١٢٣", "𝟗", "1_0", " 5", "+5", "0x1", "nan", "inf", "1e3"]),
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
)


@PROPERTY
@given(ANY_TEXT)
def test_integers_are_ascii_digits_within_bounds(raw):
    try:
        value = ascii_int(raw, low=0, high=10**9)
    except ParameterError:
        assert not re.fullmatch(r"[0-9]{1,18}", raw) or int(raw) > 10**9
        return
    assert re.fullmatch(r"[0-9]+", raw) and value == int(raw) and 0 <= value <= 10**9


@PROPERTY
@given(ANY_TEXT)
def test_numbers_are_ascii_json_numbers_within_bounds(raw):
    try:
        value = ascii_number(raw, low=0, below=1e11)
    except ParameterError:
        return
    assert raw.isascii() and re.fullmatch(r"[0-9.eE+-]+", raw) and 0 <= value < 1e11


def test_max_age_is_optional():
    assert parse_max_age(None) is None and parse_max_age("0") == 0 and parse_max_age("999999999") == 999999999
    with pytest.raises(ParameterError):
        parse_max_age("1000000000")


@PROPERTY
@given(st.text(min_size=1), st.text(min_size=1))
def test_basic_credentials_round_trip_as_rfc_6749_encodes_them(client_id, secret):
    joined = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    assert basic_credentials("Basic " + base64.b64encode(joined).decode()) == (client_id, secret)


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=60).map(lambda b: "Basic " + base64.b64encode(b).decode()),
        st.text().map(lambda t: "Basic " + t),
        st.text(),
        st.none(),
    )
)
def test_any_basic_header_decodes_or_is_refused(header):
    try:
        result = basic_credentials(header)
    except ParameterError:
        return
    assert result is None or (isinstance(result, tuple) and len(result) == 2)


def test_other_schemes_are_not_basic_credentials():
    assert basic_credentials("Bearer abc") is None and basic_credentials(None) is None


@PROPERTY
@given(st.one_of(st.text(), st.text().map(lambda t: "/" + t), st.text().map(lambda t: "/\t/" + t)))
def test_a_local_path_is_one_no_browser_reads_as_another_host(raw):
    path = safe_local_path(raw)
    assert path.startswith("/") and not path.startswith(("//", "/\\"))
    assert path.isascii() and path.isprintable() and not any(c.isspace() for c in path) and "\\" not in path
    assert safe_local_path(path) == path  # what it returns is already normalised
