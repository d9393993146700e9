"""The console (``clients/console``) as a live loopback server beside the provider and both relying
parties (``start_apps``), with the demo's three console users: each holds its console role and an
authenticator app (its key kept here, so a test makes codes on the shared clock). The demo's teams
own the apps' clients: ``dashboard`` the SPOM Dashboard, ``procurement`` the Supplier Portal."""

from __future__ import annotations

from dataclasses import dataclass

from clients import console as console_app
from clients.common import RPConfig
from tests.support.apps import Apps, RPServer, start_apps
from tests.support.factors import code, enrol_totp_for, user
from tests.support.helpers import PASSWORD
from tests.support.live import LiveServer, free_port

STAFF = {
    "identity": dict(
        registration_number="E2000010", email="katherine@example.edu", name="Katherine Johnson", role="employee"
    ),
    "security": dict(registration_number="E2000011", email="alan@example.edu", name="Alan Turing", role="employee"),
    "team": dict(
        registration_number="E2000012", email="margaret@example.edu", name="Margaret Hamilton", role="employee"
    ),
}
ROLES = {"identity": "idp:admin", "security": "idp:security", "team": "team:dashboard"}
TEAMS = {"dashboard": "dashboard", "portal": "procurement"}


@dataclass
class Console:
    apps: Apps
    console: RPServer
    #: The authenticator-app key of each console user (``STAFF``'s keys).
    keys: dict[str, str]

    @property
    def provider(self):
        return self.apps.provider

    def close(self) -> None:
        self.console.server.__exit__()
        self.console.app.extensions["rp"].database.dispose()
        self.apps.close()


def start_console(make_provider, tmp_path, clock, **provider_settings) -> Console:
    from idp.domain.clients.rules import build_client, console_spec
    from idp.storage.sql.models import Client

    apps = start_apps(make_provider, tmp_path, clock, **provider_settings)
    provider = apps.provider
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    keys = {}
    with provider.transaction() as db:
        for key, rp in (("dashboard", apps.dashboard), ("portal", apps.portal)):
            db.get(Client, rp.client_id).team = TEAMS[key]
    for kind, person in STAFF.items():
        provider.create_user(**person, password=PASSWORD)
        with provider.transaction() as db:
            provider.accounts(db).grant_role(user(db, person["registration_number"]), ROLES[kind])
        keys[kind] = enrol_totp_for(provider, person["registration_number"])[0]
    with provider.app.app_context(), provider.transaction() as db:
        d = provider.deps
        row, secret = build_client(
            console_spec(base), secret_key=d.settings.server.secret_key, now=d.now(), allow=d.outbound.allow
        )
        db.add(row)
    config = RPConfig(
        name="SPOM Login console",
        issuer=provider.url,
        client_id=row.client_id,
        client_secret=secret,
        base_url=base,
        secret_key="c" * 40,
        database=str(tmp_path / "console.sqlite3"),
        cookie_name="spom_console_session",
        scope="openid profile idp:console",
        session_idle_seconds=900,
        session_max_seconds=3600,
        acr_values="urn:spom:acr:mfa",
    )
    app = console_app.create_app(config, clock=clock)
    server = RPServer(app, base, row.client_id, config, LiveServer(app, port).__enter__())
    return Console(apps, server, keys)


def sign_in(page, console: Console, kind: str, path: str = "/") -> None:
    """Open ``path`` of the console and sign in as the ``kind`` console user: password, then a code."""
    page.goto(console.console.url + path)
    page.locator("#username").fill(STAFF[kind]["registration_number"])
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    clock = console.provider.clock
    clock.advance(30)  # a later time step than the last code accepted (enrolment's, or an earlier sign-in's)
    page.locator("input[autocomplete=one-time-code]").fill(code(console.keys[kind], clock.now()))
    page.locator("input[autocomplete=one-time-code]").press("Enter")
    page.wait_for_url(console.console.url + "/**")
