"""What ``make demo`` hands its servers: the relying parties' loopback allow-listed for back-channel
logout, inherited by the provider it starts (the demo itself runs in tests/e2e/test_demo.py)."""

from __future__ import annotations

import os


def test_the_demo_allow_lists_loopback_for_its_relying_parties_back_channel_logout(tmp_path, monkeypatch):
    """The relying parties listen on plain-http loopback: the demo adds 127.0.0.1 to
    IDP_OUTBOUND_ALLOW (keeping what the operator set), and the provider it starts inherits it."""
    from idp.demo import allow_loopback, child_environments

    env: dict = {}
    allow_loopback(env)
    assert env["IDP_OUTBOUND_ALLOW"] == "127.0.0.1/32"
    env = {"IDP_OUTBOUND_ALLOW": "10.20.0.0/16"}
    allow_loopback(env)
    assert env["IDP_OUTBOUND_ALLOW"] == "10.20.0.0/16,127.0.0.1/32"
    env = {"IDP_OUTBOUND_ALLOW": "127.0.0.0/8"}
    allow_loopback(env)
    assert env["IDP_OUTBOUND_ALLOW"] == "127.0.0.0/8"
    monkeypatch.delenv("IDP_OUTBOUND_ALLOW", raising=False)
    allow_loopback(os.environ)
    creds = {k: {"client_id": k, "client_secret": "s", "app_secret": "a"} for k in ("dashboard", "portal", "console")}
    children = child_environments(
        "http://127.0.0.1:8000",
        {"dashboard": "http://127.0.0.1:8001", "portal": "http://127.0.0.1:8002", "console": "http://127.0.0.1:8003"},
        creds,
        tmp_path,
    )
    assert children["provider"]["IDP_OUTBOUND_ALLOW"] == "127.0.0.1/32"


def test_the_demo_keeps_server_lines_quiet_but_shows_mail_warnings_and_errors():
    """Quiet by default: the outbox line (where the reset link is), warnings and errors pass, each
    after ``demo:``; an INFO request line or a gunicorn banner does not. --verbose passes all."""
    import json

    from idp.demo import server_line

    mail = json.dumps({"level": "INFO", "message": "mail to ada@example.edu (Reset) written to outbox: /o/1.eml"})
    request = json.dumps({"level": "INFO", "message": "GET /login 200"})
    warning = json.dumps({"level": "WARNING", "message": "rejected logout token: expired"})
    banner = "[2026-12-02 06:00:00 +0000] [7] [INFO] Booting worker with pid: 7"
    assert server_line("provider", mail + "\n", verbose=False) == (
        "demo: provider: mail to ada@example.edu (Reset) written to outbox: /o/1.eml"
    )
    assert server_line("provider", warning, verbose=False) == "demo: provider warning: rejected logout token: expired"
    assert server_line("dashboard", "[7] [ERROR] Worker failed to boot.", verbose=False) == (
        "demo: dashboard error: [7] [ERROR] Worker failed to boot."
    )
    assert server_line("provider", request, verbose=False) is None
    assert server_line("provider", banner, verbose=False) is None
    assert server_line("provider", banner, verbose=True) == "[provider] " + banner


def test_the_demo_shows_an_example_help_contact_unless_the_operator_set_one():
    """/help of the demo names an e-mail address and a phone number, not a bare "IT service desk"."""
    from idp.demo import example_help_contact

    env: dict = {}
    example_help_contact(env)
    assert env["IDP_HELP_CONTACT_EMAIL"] == "servicedesk@example.edu" and env["IDP_HELP_CONTACT_PHONE"]
    env = {"IDP_HELP_CONTACT_EMAIL": "help@uni.example"}
    example_help_contact(env)
    assert env == {"IDP_HELP_CONTACT_EMAIL": "help@uni.example"}


def test_only_an_https_issuer_without_a_help_contact_is_warned_about():
    from idp.core.settings import BrandingSettings, ServerSettings, Settings

    public = ServerSettings(issuer="https://login.example.edu")
    assert Settings(server=public).warnings()
    assert not Settings(server=public, branding=BrandingSettings(help_contact_phone="+49 30 1")).warnings()
    assert not Settings(server=ServerSettings(issuer="http://127.0.0.1:8000")).warnings()
