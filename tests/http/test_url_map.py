"""The URL map is pinned: every route with its endpoint name and methods (an app built in process, no server)."""

from __future__ import annotations

import re

import pytest

from idp.app import create_app
from idp.core.settings import Settings

EXPECTED_ROUTES = {
    ("/", "web.home"),
    ("/login", "web.login"),
    ("/login", "web.login_post"),
    ("/login/device/link", "web.device_link"),
    ("/login/device", "web.device_approval"),
    ("/login/device", "web.device_approval_post"),
    ("/login/device/approved", "web.device_approved"),
    ("/consent", "web.consent"),
    ("/consent", "web.consent_post"),
    ("/logout", "web.logout"),
    ("/help", "web.help_page"),
    ("/language", "web.language"),
    ("/brand.css", "web.brand_css"),
    ("/favicon.svg", "web.favicon"),
    ("/favicon.ico", "web.favicon_ico"),
    ("/authorize", "protocol.authorize"),
    ("/authorize/resume", "protocol.resume"),
    ("/token", "protocol.token"),
    ("/revoke", "protocol.revoke"),
    ("/introspect", "protocol.introspect"),
    ("/userinfo", "protocol.userinfo"),
    ("/.well-known/openid-configuration", "protocol.discovery"),
    ("/jwks.json", "protocol.jwks"),
    ("/static/<path:filename>", "static"),
    ("/password/forgot", "account.forgot"),
    ("/password/forgot", "account.forgot_post"),
    ("/password/reset", "account.reset"),
    ("/password/reset", "account.reset_post"),
    ("/account", "account.index"),
    ("/account/password", "account.change_password"),
    ("/account/sessions/end", "account.end_session"),
    ("/account/apps/revoke", "account.revoke_app"),
    ("/account/factors/add", "account.add_totp_form"),
    ("/account/factors/totp", "account.add_totp"),
    ("/account/factors/rename", "account.rename_factor"),
    ("/account/factors/remove", "account.remove_factor"),
    ("/account/recovery-codes", "account.new_recovery_codes"),
    ("/login/second-factor", "web.second_factor"),
    ("/login/second-factor", "web.second_factor_post"),
    ("/login/second-factor/enrol", "web.second_factor_enrol"),
    ("/login/second-factor/later", "web.second_factor_grace"),
    ("/login/second-factor/continue", "web.second_factor_continue"),
    ("/passkeys/options", "web.passkey_options"),
    ("/login/passkey", "web.passkey_second_factor"),
    ("/login/passkey/enrol", "web.passkey_enrol"),
    ("/login/passkey/signin", "web.passkey_signin"),
    ("/account/passkeys", "account.add_passkey"),
    ("/healthz", "ops.healthz"),
    ("/readyz", "ops.readyz"),
    ("/metrics", "ops.metrics"),
    ("/register", "protocol.register"),
    ("/register/<client_id>", "protocol.client_configuration"),
    ("/admin/api/openapi.json", "admin.openapi"),
    ("/admin/api/clients", "admin.list_clients"),
    ("/admin/api/clients", "admin.create_client"),
    ("/admin/api/clients/<client_id>", "admin.get_client"),
    ("/admin/api/clients/<client_id>", "admin.update_client"),
    ("/admin/api/clients/<client_id>", "admin.delete_client"),
    ("/admin/api/clients/<client_id>/disable", "admin.disable_client"),
    ("/admin/api/clients/<client_id>/enable", "admin.enable_client"),
    ("/admin/api/clients/<client_id>/rotate-secret", "admin.rotate_secret"),
    ("/admin/api/registration-tokens", "admin.issue_registration_token"),
    ("/admin/api/users", "admin.list_users"),
    ("/admin/api/users/<sub>", "admin.get_user"),
    ("/admin/api/users/<sub>", "admin.update_user"),
    ("/admin/api/users/<sub>/factors", "admin.user_factors"),
    ("/admin/api/users/<sub>/reset-mfa", "admin.reset_mfa"),
    ("/admin/api/mfa-policy", "admin.mfa_policy"),
    ("/admin/api/audit", "admin.audit_events"),
    ("/admin/api/me", "admin.me"),
    ("/admin/api/clients/<client_id>/usage", "admin.client_usage_of"),
    ("/admin/api/users/<sub>/disable", "admin.disable_user"),
    ("/admin/api/users/<sub>/enable", "admin.enable_user"),
    ("/admin/api/users/<sub>/sign-out", "admin.sign_out_user"),
    ("/admin/api/users/<sub>/reset-link", "admin.send_reset_link"),
    ("/admin/api/users/<sub>/roles", "admin.user_roles"),
    ("/admin/api/users/<sub>/roles", "admin.grant_user_role"),
    ("/admin/api/users/<sub>/roles/<role>", "admin.revoke_user_role"),
    ("/admin/api/audit/export", "admin.export_audit_events"),
    ("/admin/api/keys", "admin.list_keys"),
    ("/admin/api/keys/rotate", "admin.rotate_keys"),
    ("/admin/api/keys/<kid>/revoke", "admin.revoke_key"),
    ("/admin/api/anomalies", "admin.anomalies"),
    ("/admin/api/throttle", "admin.throttle_status"),
    ("/admin/api/throttle", "admin.throttle_clear"),
    ("/admin/api/settings", "admin.safe_settings"),
    ("/admin/api/registration-tokens", "admin.list_registration_tokens"),
    ("/admin/api/registration-tokens/<int:token_id>/revoke", "admin.revoke_registration_token"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("urlmap")
    return create_app(Settings.from_env({}, instance_dir=str(folder), secret_key="u" * 40, keys_passphrase="u" * 16))


def test_url_map_is_pinned(app):
    routes = {(rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()}
    assert routes == EXPECTED_ROUTES, (
        f"added: {sorted(routes - EXPECTED_ROUTES)}; removed: {sorted(EXPECTED_ROUTES - routes)}"
    )


def test_endpoint_names_read_surface_action(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        assert re.fullmatch(r"(web|protocol|account|ops|admin)\.[a-z][a-z_]*", rule.endpoint), rule.endpoint


def test_methods_per_route(app):
    methods = {}
    for rule in app.url_map.iter_rules():
        methods.setdefault(rule.rule, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    assert methods["/authorize"] == {"GET", "POST"}
    assert methods["/userinfo"] == {"GET", "POST"}
    assert methods["/logout"] == {"GET", "POST"}
    assert methods["/login"] == {"GET", "POST"}
    for path in ("/token", "/revoke", "/introspect", "/register"):
        assert methods[path] == {"POST"}, path
    assert methods["/register/<client_id>"] == {"GET", "PUT", "DELETE"}
    assert methods["/admin/api/users/<sub>"] == {"GET", "PATCH"}
    assert methods["/admin/api/users/<sub>/roles"] == {"GET", "POST"}
    assert methods["/admin/api/users/<sub>/roles/<role>"] == {"DELETE"}
    assert methods["/admin/api/throttle"] == {"GET", "DELETE"}
    for path in ("/admin/api/keys/rotate", "/admin/api/keys/<kid>/revoke"):
        assert methods[path] == {"POST"}, path
    for path in ("disable", "enable", "sign-out", "reset-link"):
        assert methods[f"/admin/api/users/<sub>/{path}"] == {"POST"}, path
    for path in ("/.well-known/openid-configuration", "/jwks.json", "/authorize/resume", "/", "/account"):
        assert methods[path] == {"GET"}, path
    for path in ("/password/forgot", "/password/reset", "/login/device"):
        assert methods[path] == {"GET", "POST"}, path
    assert methods["/login/device/link"] == {"POST"}
    assert methods["/login/device/approved"] == {"GET"}
    for path in ("/account/password", "/account/sessions/end", "/account/apps/revoke"):
        assert methods[path] == {"POST"}, path
    assert methods["/login/second-factor"] == {"GET", "POST"}
    for path in ("/account/factors/totp", "/account/factors/rename", "/account/factors/remove"):
        assert methods[path] == {"POST"}, path
    for path in ("/passkeys/options", "/login/passkey", "/login/passkey/enrol", "/login/passkey/signin"):
        assert methods[path] == {"POST"}, path
    assert methods["/account/passkeys"] == {"POST"}
