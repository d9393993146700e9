"""Settings: grouped by concern; validation reports every problem at once and writes no file; `idp init`
creates the development secrets; the docs match the code; the URL map is pinned."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from idp.core.settings import (
    ServerSettings,
    Settings,
    SettingsError,
    ThrottleSettings,
    TokenSettings,
    dev_secret_files,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
#: Secrets given in the environment, so that a loopback issuer needs no files from `idp init`.
DEV = {"IDP_SECRET_KEY": "d" * 40, "IDP_KEYS_PASSPHRASE": "d" * 16}
LOWER_DEV = {"secret_key": "d" * 40, "keys_passphrase": "d" * 16}


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
        ({"IDP_REQUIRE_PKCE_DEFAULT": "2"}, "IDP_REQUIRE_PKCE_DEFAULT: must be between 0 and 1"),
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
    assert settings.server.trusted_proxies == ("10.0.0.0/8", "2001:db8::/32")
    assert settings.tokens.code_seconds == 30
    assert settings.server.secure_cookies
    assert settings.storage.database_url == "postgresql+psycopg://idp@db/idp"
    assert settings.mail.outbox_path == tmp_path / "outbox"
    assert list(tmp_path.iterdir()) == []


def test_settings_are_grouped_by_concern():
    sections = Settings.sections()
    assert list(sections) == [
        "server",
        "storage",
        "sessions",
        "tokens",
        "clients",
        "accounts",
        "mfa",
        "throttle",
        "keys",
        "mail",
        "outbound",
        "branding",
    ]
    variables = [f.metadata["env"] for section in sections.values() for f in dataclasses.fields(section)]
    assert len(variables) == len(set(variables)), "a variable belongs to two sections"
    assert all(v.startswith("IDP_") for v in variables)
    defaults = Settings()
    assert defaults.sessions.idle_seconds == 1800 and defaults.keys.publication_seconds == 86400
    assert defaults.throttle.account_free == 5 and defaults.branding.primary_color == "#0b5cad"
    # Each section checks its own fields: one section alone names its problems.
    assert list(TokenSettings(code_seconds=601).problems()) == [
        "IDP_CODE_SECONDS: at most 600 (RFC 6749 §4.1.2 recommends ten minutes at most)"
    ]
    assert list(ThrottleSettings().problems()) == []


def test_problems_of_every_section_and_across_sections_come_at_once(tmp_path):
    found = problems(
        {
            "IDP_INSTANCE_DIR": str(tmp_path),
            "IDP_ISSUER": "https://login.example.edu",  # server
            "IDP_SECRET_KEY": "s" * 40,
            "IDP_WORKERS": "many",  # server: parse
            "IDP_SESSION_MAX_SECONDS": "0",  # sessions
            "IDP_THROTTLE_ACCOUNT_FREE": "0",  # throttle
            "IDP_SMTP_PORT": "70000",  # mail
            "IDP_BACKCHANNEL_ATTEMPTS": "0",  # outbound
            "IDP_BRAND_PRIMARY_COLOR": "red",  # branding
            # keys: no passphrase on an https issuer (a rule across the keys and server sections)
        }
    )
    assert found == [
        "IDP_WORKERS: expected int, got 'many'",
        "IDP_SESSION_MAX_SECONDS: must be positive",
        "IDP_THROTTLE_ACCOUNT_FREE: must be positive",
        "IDP_SMTP_PORT: between 1 and 65535",
        "IDP_BACKCHANNEL_ATTEMPTS: at least 1",
        "IDP_BRAND_PRIMARY_COLOR: a colour as #rrggbb",
        "IDP_KEYS_PASSPHRASE: required when the issuer is not plain-http loopback",
    ]


def test_the_removed_keys_dir_is_refused_with_what_replaced_it(tmp_path):
    found = problems({"IDP_INSTANCE_DIR": str(tmp_path), "IDP_KEYS_DIR": "/var/lib/idp/keys", **DEV})
    assert found == [
        "IDP_KEYS_DIR: no longer used, remove it: signing keys live in the database, encrypted with "
        "IDP_KEYS_PASSPHRASE (docs/key-rotation.md)"
    ]


def test_overrides_name_variables_and_unknown_names_are_refused(tmp_path):
    settings = Settings.from_env(
        {}, instance_dir=str(tmp_path), session_idle_seconds=60, trusted_proxies=("::1",), **LOWER_DEV
    )
    assert settings.sessions.idle_seconds == 60 and settings.server.trusted_proxies == ("::1",)
    with pytest.raises(TypeError, match="no setting IDP_SESSION_IDLE"):
        Settings.from_env({}, session_idle=60)


def test_loading_writes_nothing_and_asks_for_idp_init(tmp_path):
    """A loopback issuer without secrets: every missing secret is named with `idp init`; no file,
    not even the instance folder, is created by loading."""
    instance = tmp_path / "instance"
    found = problems({"IDP_INSTANCE_DIR": str(instance)})
    assert found == [
        f"IDP_SECRET_KEY: not set and {instance / 'secret_key'} does not exist, run `idp init` to create the "
        "development secrets of this loopback issuer",
        f"IDP_KEYS_PASSPHRASE: not set and {instance / 'keys_passphrase'} does not exist, run `idp init` to "
        "create the development secrets of this loopback issuer",
    ]
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_dev_secret_is_a_settings_error(tmp_path):
    (tmp_path / "secret_key").mkdir()
    with pytest.raises(SettingsError, match=r"cannot read the development secret .*secret_key"):
        Settings.from_env({"IDP_INSTANCE_DIR": str(tmp_path)})


def test_dev_secrets_only_for_a_loopback_issuer_and_only_those_not_set(tmp_path):
    folder = str(tmp_path)
    assert dev_secret_files({"IDP_INSTANCE_DIR": folder, "IDP_ISSUER": "https://login.example.edu"}) == []
    assert dev_secret_files({"IDP_INSTANCE_DIR": folder, "IDP_SECRET_KEY": "s" * 40}) == [tmp_path / "keys_passphrase"]
    assert dev_secret_files({"IDP_INSTANCE_DIR": folder}) == [tmp_path / "secret_key", tmp_path / "keys_passphrase"]


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().server.issuer = "https://elsewhere.example"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().server = ServerSettings()  # type: ignore[misc]


def documented_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\|\s*`(IDP_[A-Z0-9_]+)`\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*$", line)
        if m:
            default = m.group(2)
            default = "" if default == "(empty)" else default.strip("`")
            rows[m.group(1)] = (default, m.group(3))
    return rows


def test_the_configuration_doc_holds_the_generated_tables():
    """docs/configuration.md carries ``python -m idp.core.settings`` verbatim: one table per section,
    every variable with its default and doc line, and no variable the code lacks."""
    assert Settings.markdown() in DOCS.read_text(), "run `python -m idp.core.settings` and paste its tables"
    in_code = Settings.documentation()
    assert len(in_code) >= 20
    documented = documented_rows()
    for _title, variable, default, doc in in_code:
        assert documented[variable] == (default, doc), variable
    assert set(documented) == {v for _, v, _, _ in in_code}, "docs/configuration.md lists a setting the code lacks"


SAMPLE = {
    "IDP_ACCESS_TOKEN_ALG": "RS256",
    "IDP_ARGON2_MEMORY_KIB": "64",
    "IDP_MAX_PASSWORD_LENGTH": "64",
    "IDP_PASSWORD_MIN_LENGTH": "12",
    "IDP_SMTP_SECURITY": "tls",
    "IDP_SERVER": "gunicorn",
    "IDP_KEYS_PASSPHRASE": "x" * 16,
    "IDP_KEY_PUBLICATION_SECONDS": "700",
    "IDP_DEVICE_LINK_SECONDS": "720",  # at least the account limit's refill interval (3600 s / 5)
    "IDP_LOG_FORMAT": "text",
    "IDP_TIME_ZONE": "America/New_York",
    "IDP_BRAND_PRIMARY_COLOR": "#123456",
    "IDP_CONSOLE_URL": "https://console.example.edu",
    "IDP_BRAND_LOGO_URL": "/static/logo.svg",
    "IDP_REQUIRE_PKCE_DEFAULT": "0",  # 0 or 1; the default is 1
    "IDP_MFA_REQUIRED_ROLES": "employee",
}


def test_every_setting_is_read_from_the_environment(tmp_path):
    """Each documented variable reaches its field (no typo between the docs and ``from_env``)."""
    for attr, section in Settings.sections().items():
        for f in dataclasses.fields(section):
            variable = f.metadata["env"]
            if variable in ("IDP_ISSUER", "IDP_SECRET_KEY", "IDP_INSTANCE_DIR"):
                continue
            raw = SAMPLE.get(variable) or {"int": "7", "float": "2.5", "str": "x"}.get(str(f.type), "127.0.0.1/32")
            environ = {"IDP_INSTANCE_DIR": str(tmp_path), **DEV, variable: raw}
            value = getattr(getattr(Settings.from_env(environ), attr), f.name)
            assert str(value) == raw or value == (raw,), variable


def test_mfa_roles_are_parsed_and_checked(tmp_path):
    base = {"IDP_INSTANCE_DIR": str(tmp_path), **DEV}
    settings = Settings.from_env({**base, "IDP_MFA_REQUIRED_ROLES": "employee, vendor", "IDP_MFA_GRACE_DAYS": "0"})
    assert settings.mfa.required_roles == ("employee", "vendor") and settings.mfa.grace_days == 0
    with pytest.raises(SettingsError, match="IDP_MFA_REQUIRED_ROLES: 'staff' is not a role"):
        Settings.from_env({**base, "IDP_MFA_REQUIRED_ROLES": "staff"})
    with pytest.raises(SettingsError, match="IDP_MFA_GRACE_SIGNINS: must not be negative"):
        Settings.from_env({**base, "IDP_MFA_GRACE_SIGNINS": "-1"})


def test_an_unknown_idp_variable_is_named_once_with_the_setting_it_resembles(tmp_path, caplog):
    """A typo must not leave the provider quietly on a default: IDP_REDIS_ULR is ignored, and said so."""
    import logging

    from idp.core import settings as settings_module

    env = {
        "IDP_ISSUER": "http://127.0.0.1:8000",
        "IDP_SECRET_KEY": "s" * 40,
        "IDP_KEYS_PASSPHRASE": "p" * 16,
        "IDP_INSTANCE_DIR": str(tmp_path),
        "IDP_REDIS_ULR": "redis://127.0.0.1:6379/0",
        "IDP_NOTHING_LIKE_IT": "1",
    }
    settings_module._warned.clear()
    with caplog.at_level(logging.WARNING, logger="idp.core.settings"):
        settings = Settings.from_env(env)
        Settings.from_env(env)  # read again (each worker does): not said twice
    assert settings.storage.redis_url == ""  # ignored
    lines = [r.getMessage() for r in caplog.records if r.name == "idp.core.settings"]
    assert lines == [
        "configuration: IDP_NOTHING_LIKE_IT is not a setting and is ignored",
        "configuration: IDP_REDIS_ULR is not a setting and is ignored; did you mean IDP_REDIS_URL?",
    ]
