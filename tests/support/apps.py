"""The provider plus both relying parties (SPOM dashboard, Supplier Portal) as live loopback servers,
sharing one clock, with the demo users; used by the relying-party and browser tests."""

from __future__ import annotations

from dataclasses import dataclass

from clients import dashboard, supplier_portal
from clients.common import RPConfig
from tests.support.helpers import PASSWORD, Provider
from tests.support.live import LiveServer, free_port

USERS = {
    "student": dict(registration_number="S1000001", email="ada@example.edu", name="Ada Lovelace", role="student"),
    "employee": dict(registration_number="E2000001", email="grace@example.edu", name="Grace Hopper", role="employee"),
    "vendor": dict(
        registration_number="V3000001", email="orders@acme.example", name="Acme Campus Services", role="vendor"
    ),
}


@dataclass
class RPServer:
    app: object
    url: str
    client_id: str
    config: RPConfig
    server: LiveServer

    def sessions(self):
        """Live (not logged-out) session rows of this app."""
        from clients.common.storage import RPSession

        with self.app.extensions["rp"].database.session() as db:
            return db.query(RPSession).filter(RPSession.logged_out_at.is_(None)).all()


@dataclass
class Apps:
    provider: Provider
    dashboard: RPServer
    portal: RPServer

    def close(self):
        for rp in (self.dashboard, self.portal):
            rp.server.__exit__()
            rp.app.extensions["rp"].database.dispose()


def start_apps(make_provider, tmp_path, clock, **provider_settings) -> Apps:
    # The apps listen on plain-http loopback and receive back-channel logout, so the operator's
    # allow-list names loopback (as `make demo` does); without it the registration is refused.
    provider_settings.setdefault("outbound_allow", ("127.0.0.1/32",))
    provider = make_provider(**provider_settings)
    for user in USERS.values():
        provider.create_user(**user, password=PASSWORD)
    ports = {"dashboard": free_port(), "portal": free_port()}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    servers = {}
    for key, module, name, cookie, link in (
        ("dashboard", dashboard, "SPOM Dashboard", "spom_dashboard_session", ("Supplier Portal", urls["portal"])),
        ("portal", supplier_portal, "Supplier Portal", "spom_supplier_session", ("SPOM Dashboard", urls["dashboard"])),
    ):
        base = urls[key]
        rp = provider.create_client(
            name=name,
            redirect_uris=[base + "/callback"],
            post_logout_redirect_uris=[base + "/signed-out"],
            backchannel_logout_uri=base + "/backchannel-logout",
            scope="openid profile email",
        )
        config = RPConfig(
            name=name,
            issuer=provider.url,
            client_id=rp.client_id,
            client_secret=rp.client_secret,
            base_url=base,
            secret_key="r" * 40,
            database=str(tmp_path / f"{key}.sqlite3"),
            cookie_name=cookie,
        )
        app = module.create_app(config, clock=clock, links=(link,))
        servers[key] = RPServer(app, base, rp.client_id, config, LiveServer(app, ports[key]).__enter__())
    return Apps(provider, servers["dashboard"], servers["portal"])
