"""Settings: validation reports every problem at once; the docs match the code (the URL map is pinned
in tests/http/test_url_map.py)."""

from __future__ import annotations

import re

import pytest

from idp.core.settings import Settings, SettingsError
from tests.support.constants import ROOT

DOCS = ROOT / "docs" / "configuration.md"


def problems(environ: dict) -> list[str]:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(environ)
    return str(info.value).split("; ")


def test_all_problems_are_reported_at_once():
    found = problems(
        {
            "IDP_ISSUER": "http://login.example.edu/",
            "IDP_SECRET_KEY": "too-short",
            "IDP_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network",
            "IDP_CODE_SECONDS": "sixty",
            "IDP_SESSION_IDLE_SECONDS": "1.5",
        }
    )
    text = "; ".join(found)
    assert "IDP_ISSUER: must use https" in text
    assert "IDP_ISSUER: must have no query, fragment or trailing slash" in text
    assert "IDP_SECRET_KEY: must be at least 32 characters" in text
    assert "IDP_TRUSTED_PROXIES: 'not-a-network'" in text
    assert "10.0.0.0/8" not in text
    assert "IDP_CODE_SECONDS: expected int, got 'sixty'" in text
    assert "IDP_SESSION_IDLE_SECONDS: expected int, got '1.5'" in text
    assert "IDP_KEYS_PASSPHRASE: required when the issuer is not plain-http loopback" in text
    assert len(found) == 7


@pytest.mark.parametrize(
    "environ,message",
    [
        ({"IDP_ISSUER": "http://example.com", "IDP_SECRET_KEY": "s" * 40}, "IDP_ISSUER: must use https"),
        ({"IDP_ISSUER": "https://login.example.edu/"}, "trailing slash"),
        ({"IDP_ISSUER": "https://login.example.edu?x=1", "IDP_SECRET_KEY": "s" * 40}, "no query"),
        ({"IDP_ISSUER": "login.example.edu", "IDP_SECRET_KEY": "s" * 40}, "absolute http(s) URL"),
        ({"IDP_ISSUER": "https://login.example.edu"}, "IDP_SECRET_KEY: required"),
        ({"IDP_SECRET_KEY": "s" * 31}, "at least 32 characters"),
        ({"IDP_TRUSTED_PROXIES": "10.0.0.0/33"}, "IDP_TRUSTED_PROXIES"),
        ({"IDP_ACCESS_TOKEN_SECONDS": "ten"}, "IDP_ACCESS_TOKEN_SECONDS: expected int"),
        ({"IDP_ACCESS_TOKEN_SECONDS": "0"}, "IDP_ACCESS_TOKEN_SECONDS: must be positive"),
        ({"IDP_CODE_SECONDS": "601"}, "IDP_CODE_SECONDS: at most 600"),
        ({"IDP_ACCESS_TOKEN_ALG": "HS256"}, "IDP_ACCESS_TOKEN_ALG"),
        ({"IDP_ARGON2_TIME_COST": "0"}, "IDP_ARGON2_*"),
        ({"IDP_PASSWORD_MIN_LENGTH": "7"}, "IDP_PASSWORD_MIN_LENGTH: between 8 and 64"),
        ({"IDP_MAX_PASSWORD_LENGTH": "63"}, "IDP_MAX_PASSWORD_LENGTH: between 64"),
        ({"IDP_RESET_LINK_SECONDS": "0"}, "IDP_RESET_LINK_SECONDS: must be positive"),
        ({"IDP_SMTP_SECURITY": "ssl"}, "IDP_SMTP_SECURITY: one of starttls, tls, none"),
        ({"IDP_SMTP_HOST": "mail.example.edu", "IDP_SMTP_SECURITY": "none"}, "none is allowed only for a loopback"),
        ({"IDP_SMTP_PORT": "0"}, "IDP_SMTP_PORT"),
        ({"IDP_MAIL_ATTEMPTS": "0"}, "IDP_MAIL_ATTEMPTS: must be positive"),
        ({"IDP_ISSUER": "https://login.example.edu", "IDP_SECRET_KEY": "s" * 40}, "IDP_KEYS_PASSPHRASE: required"),
        ({"IDP_KEYS_PASSPHRASE": "short"}, "IDP_KEYS_PASSPHRASE: must be at least 16 characters"),
        (
            {"IDP_JWKS_MAX_AGE_SECONDS": "3600", "IDP_KEY_PUBLICATION_SECONDS": "600"},
            "IDP_JWKS_MAX_AGE_SECONDS: must not exceed IDP_KEY_PUBLICATION_SECONDS",
        ),
        (
            {"IDP_KEY_ROTATION_DAYS": "1", "IDP_KEY_PUBLICATION_SECONDS": "172800"},
            "IDP_KEY_ROTATION_DAYS: the rotation period must be longer",
        ),
        ({"IDP_KEY_ROTATION_DAYS": "-1"}, "IDP_KEY_ROTATION_DAYS: must be 0 (off) or positive"),
        ({"IDP_TIME_ZONE": "Mars/Olympus"}, "IDP_TIME_ZONE: 'Mars/Olympus' is not an IANA time zone"),
        ({"IDP_BRAND_PRIMARY_COLOR": "blue"}, "IDP_BRAND_PRIMARY_COLOR: a colour as #rrggbb"),
        ({"IDP_BRAND_PRIMARY_COLOR": "#ffcc00"}, "IDP_BRAND_PRIMARY_COLOR: too light"),
        ({"IDP_BRAND_LOGO_URL": "http://cdn.example.edu/logo.png"}, "IDP_BRAND_LOGO_URL: an https URL"),
        ({"IDP_BRAND_LOGO_URL": "//cdn.example.edu/logo.png"}, "IDP_BRAND_LOGO_URL: an https URL"),
    ],
)
def test_each_problem_is_named(tmp_path, environ, message):
    environ = {"IDP_INSTANCE_DIR": str(tmp_path), **environ}
    assert any(message in p for p in problems(environ)), problems(environ)


def test_valid_production_settings(tmp_path):
    settings = Settings.from_env(
        {
            "IDP_ISSUER": "https://login.example.edu",
            "IDP_SECRET_KEY": "s" * 32,
            "IDP_INSTANCE_DIR": str(tmp_path),
            "IDP_TRUSTED_PROXIES": " 10.0.0.0/8 , 2001:db8::/32 ",
            "IDP_CODE_SECONDS": "30",
            "IDP_DATABASE_URL": "postgresql+psycopg://idp@db/idp",
            "IDP_KEYS_PASSPHRASE": "p" * 16,
        }
    )
    assert settings.trusted_proxies == ("10.0.0.0/8", "2001:db8::/32")
    assert settings.code_seconds == 30
    assert settings.secure_cookies
    assert settings.database_url == "postgresql+psycopg://idp@db/idp"
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "keys_passphrase").exists()


def test_loopback_defaults_generate_a_dev_secret(tmp_path):
    settings = Settings.from_env({"IDP_INSTANCE_DIR": str(tmp_path)})
    assert settings.issuer == "http://127.0.0.1:8000" and not settings.secure_cookies
    assert len(settings.secret_key) >= 32
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'idp.sqlite3'}"
    assert Settings.from_env({"IDP_INSTANCE_DIR": str(tmp_path)}).secret_key == settings.secret_key


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().issuer = "https://elsewhere.example"  # type: ignore[misc]


def documented_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\|\s*`(IDP_[A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*$", line)
        if m:
            default = m.group(2)
            default = "" if default == "(empty)" else default.strip("`")
            rows[m.group(1)] = (default, m.group(3))
    return rows


def test_every_setting_is_documented_with_its_default():
    documented = documented_rows()
    in_code = Settings.documentation()
    assert len(in_code) >= 20
    for variable, default, doc in in_code:
        assert variable in documented, f"{variable} is missing from docs/configuration.md"
        assert documented[variable][0] == default, f"{variable}: docs say {documented[variable][0]!r}, code {default!r}"
        assert documented[variable][1] == doc, f"{variable}: the doc line differs"
    assert set(documented) == {v for v, _, _ in in_code}, "docs/configuration.md lists a setting the code lacks"


def test_every_setting_is_read_from_the_environment(tmp_path):
    """Each documented variable reaches its field (no typo between the docs and ``from_env``)."""
    for variable, _default, _doc in Settings.documentation():
        name = variable.removeprefix("IDP_").lower()
        if name in ("issuer", "secret_key", "instance_dir"):
            continue
        field_type = Settings.__dataclass_fields__[name].type
        raw = {"int": "7", "str": "x"}.get(field_type, "127.0.0.1/32")
        if name == "access_token_alg":
            raw = "RS256"
        if name in ("argon2_memory_kib", "max_password_length"):
            raw = "64"
        if name == "password_min_length":
            raw = "12"
        if name == "smtp_security":
            raw = "tls"
        if name == "keys_passphrase":
            raw = "x" * 16
        if name == "key_publication_seconds":
            raw = "700"
        if name == "device_link_seconds":  # at least the account limit's refill interval (3600 s / 5)
            raw = "720"
        if name == "log_format":
            raw = "text"
        if name == "time_zone":
            raw = "America/New_York"
        if name == "brand_primary_color":
            raw = "#123456"
        if name == "brand_logo_url":
            raw = "/static/logo.svg"
        value = getattr(Settings.from_env({variable: raw, "IDP_INSTANCE_DIR": str(tmp_path)}), name)
        assert str(value) == raw or value == (raw,), variable
