"""The deployment files are valid and say what docs/deploy.md promises (there is no Docker engine in
CI: the compose file is parsed and checked, the Dockerfile read line by line)."""

from __future__ import annotations

import ipaddress
import re

import pytest
import yaml

from tests.support.constants import ROOT

ONE_SHOT = {"migrate", "tls-init", "register-clients"}
REPLICAS = ("provider-1", "provider-2")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_every_service_the_deployment_needs_is_there(services):
    assert set(services) >= {
        "postgres",
        "redis",
        "migrate",
        *REPLICAS,
        "nginx",
        "dashboard",
        "supplier-portal",
        "mailpit",
        "tls-init",
        "register-clients",
    }
    assert services["dashboard"]["command"] == ["python", "-m", "clients.dashboard"]
    assert services["supplier-portal"]["command"] == ["python", "-m", "clients.supplier_portal"]
    for name in ("migrate", *REPLICAS, "dashboard", "supplier-portal", "tls-init", "register-clients"):
        assert services[name]["image"] == "spom-login:latest" and services[name]["build"] == ".", name


def test_every_long_running_service_has_a_health_check(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no" and service["healthcheck"] == {"disable": True}, name
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        for field in ("interval", "timeout", "retries"):
            assert field in check, (name, field)


def test_migrations_run_once_before_any_replica(services):
    assert services["migrate"]["command"] == ["idp", "init"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in REPLICAS:
        needs = services[name]["depends_on"]
        assert needs["migrate"] == {"condition": "service_completed_successfully"}
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
        assert "command" not in services[name]  # the image's CMD: idp serve (granian), no migration
    # Nothing else migrates.
    assert [n for n, s in services.items() if "init" in (s.get("command") or [])] == ["migrate"]


def test_the_load_balancer_waits_for_healthy_replicas_and_its_certificate(services):
    needs = services["nginx"]["depends_on"]
    for name in REPLICAS:
        assert needs[name] == {"condition": "service_healthy"}
    assert needs["tls-init"] == {"condition": "service_completed_successfully"}
    assert "443:443" in services["nginx"]["ports"]
    assert not any("8000" in str(p) for name in REPLICAS for p in services[name].get("ports", []))


def test_replicas_share_state_and_trust_only_the_load_balancer(compose, services):
    subnet = ipaddress.ip_network(compose["networks"]["backend"]["ipam"]["config"][0]["subnet"])
    lb_address = ipaddress.ip_address(services["nginx"]["networks"]["backend"]["ipv4_address"])
    assert lb_address in subnet
    first, second = (services[n]["environment"] for n in REPLICAS)
    assert first == second
    assert ipaddress.ip_network(first["IDP_TRUSTED_PROXIES"]) == ipaddress.ip_network(f"{lb_address}/32")
    assert (
        first["IDP_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:5432/" in first["IDP_DATABASE_URL"]
    )
    assert first["IDP_REDIS_URL"].startswith("redis://redis:6379")
    assert first["IDP_ISSUER"].startswith("${IDP_ISSUER:-https://")
    for secret in ("IDP_SECRET_KEY", "IDP_KEYS_PASSPHRASE"):
        assert re.fullmatch(r"\$\{" + re.escape(secret) + r":\?.+\}", first[secret]), (
            "secrets must come from .env, required"
        )
    # Signing keys live in PostgreSQL: no keys folder, and no removed setting the provider would refuse.
    assert "IDP_KEYS_DIR" not in first and "keys" not in compose["volumes"]
    assert not [v for s in services.values() for v in s.get("volumes", []) if "/var/lib/idp/keys" in str(v)]


def test_nginx_terminates_tls_sets_forwarded_headers_and_hides_metrics():
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    for upstream in REPLICAS:
        assert f"server {upstream}:8000" in conf
    assert "listen 443 ssl" in conf and "ssl_certificate     /etc/nginx/certs/tls.crt" in conf
    for header in (
        "X-Forwarded-For $remote_addr",
        "X-Forwarded-Proto $scheme",
        "X-Forwarded-Host $host",
        "X-Request-ID $request_id",
    ):
        assert f"proxy_set_header {header};" in conf
    assert "location = /metrics { return 404; }" in conf


def dockerfile_stages() -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_slim_and_non_root():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    final = stages[-1]
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.\d+-slim", text, re.M)
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("COPY --from=build ") for line in final)
    joined = " ".join(final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install"):
        assert tool not in joined, f"{tool} in the final stage"
    assert "pip uninstall" in joined  # not even pip is left behind


def test_dockerfile_runs_the_server_through_idp_serve_with_a_health_check():
    final = dockerfile_stages()[-1]
    cmd = [line for line in final if line.startswith("CMD ")]
    assert cmd and cmd[-1].startswith('CMD ["idp", "serve", "--host", "0.0.0.0"')
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in final)
    assert any("PROMETHEUS_MULTIPROC_DIR=" in line for line in final)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "instance"} <= set(ignored) and "keys/*.json" in ignored


def test_the_image_compiles_the_translations_it_does_not_copy_them():
    build = " ".join(dockerfile_stages()[0])
    assert "pip install ." in build and "python -m idp.http.i18n" in build
    assert build.index("pip install .") < build.index("python -m idp.http.i18n") < build.index("pip uninstall")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "idp/translations/*/LC_MESSAGES/*.mo" in ignored and "node_modules" in ignored


# -- the relying parties (clients/) in the compose file -------------------------------------------

RELYING_PARTIES = {
    "dashboard": ("DASHBOARD", "clients.dashboard"),
    "supplier-portal": ("SUPPLIER_PORTAL", "clients.supplier_portal"),
}


def resolved(value: str) -> str:
    """A compose value with its ``${VAR:-default}`` defaults filled in (as with an empty .env)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)


def rp_config(services, name):
    """The relying party's settings exactly as ``python -m clients.<app>`` would read them in the
    container (the client file stands in for the one register-clients writes)."""
    from clients.common.config import RPConfig

    prefix, module = RELYING_PARTIES[name]
    env = {k: resolved(str(v)) for k, v in services[name]["environment"].items()}
    defaults = __import__(module, fromlist=["DEFAULTS"]).DEFAULTS
    env.pop(f"{prefix}_CLIENT_FILE")
    env.update({f"{prefix}_CLIENT_ID": "x", f"{prefix}_CLIENT_SECRET": "y", f"{prefix}_SECRET_KEY": "z" * 32})
    return RPConfig.from_env(prefix, defaults, env), env


@pytest.mark.parametrize("name", sorted(RELYING_PARTIES))
def test_relying_parties_use_their_real_settings_and_the_providers_issuer(services, name):
    import dataclasses

    from clients.common.config import RPConfig

    prefix, module = RELYING_PARTIES[name]
    assert services[name]["command"] == ["python", "-m", module]
    fields = {f"{prefix}_{f.name.upper()}" for f in dataclasses.fields(RPConfig)}
    known = fields | {
        f"{prefix}_BIND",
        f"{prefix}_CLIENT_FILE",
        "REQUESTS_CA_BUNDLE",
        "DASHBOARD_URL",
        "SUPPLIER_PORTAL_URL",
    }
    env = services[name]["environment"]
    assert set(env) <= known, set(env) - known  # no variable the app would silently ignore
    config, resolved_env = rp_config(services, name)
    assert config.issuer == resolved(services["provider-1"]["environment"]["IDP_ISSUER"])
    assert config.base_url.startswith("https://") and config.secure_cookies
    assert re.fullmatch(r"\$\{" + re.escape(prefix) + r"_SECRET_KEY:\?.+\}", env[f"{prefix}_SECRET_KEY"])
    # Its database on its own volume, writable by the image's user.
    data = [v for v in services[name]["volumes"] if v.endswith(":/var/lib/idp/instance")]
    assert data and config.database.startswith("/var/lib/idp/instance/")
    assert services[name]["depends_on"]["register-clients"] == {"condition": "service_completed_successfully"}
    assert (
        resolved_env["REQUESTS_CA_BUNDLE"] == "/certs/ca-bundle.pem" and "certs:/certs:ro" in services[name]["volumes"]
    )


@pytest.mark.parametrize("name", sorted(RELYING_PARTIES))
def test_nginx_serves_each_relying_party_on_the_port_of_its_base_url(services, name):
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    config, env = rp_config(services, name)
    public_port = config.base_url.rsplit(":", 1)[1]
    bind_port = env[f"{RELYING_PARTIES[name][0]}_BIND"].rsplit(":", 1)[1]
    block = re.search(rf"listen {re.escape(public_port)} ssl;(.*?)\n    \}}", conf, re.S)
    assert block and f"http://{name}:{bind_port};" in block.group(1)
    assert f"{public_port}:{public_port}" in services["nginx"]["ports"]
    assert not services[name].get("ports")  # reached through nginx only
    # The public host name is nginx's alias on the backend network: the providers' back-channel
    # logout and the relying parties' calls to the provider go where the browser goes.
    host = config.base_url.split("://", 1)[1].rsplit(":", 1)[0]
    assert [resolved(a) for a in services["nginx"]["networks"]["backend"]["aliases"]] == [host]
    assert config.issuer == f"https://{host}"


def test_register_clients_registers_exactly_the_urls_the_relying_parties_use(services):
    one_shot = services["register-clients"]
    assert one_shot["restart"] == "no" and one_shot["healthcheck"] == {"disable": True}
    assert one_shot["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    command = [resolved(c) for c in one_shot["command"]]
    assert command[:3] == ["python", "/deploy/register_clients.py", "/var/lib/idp/clients"]
    registered = dict(pair.split("=", 1) for pair in command[3:])
    for name, (prefix, _module) in RELYING_PARTIES.items():
        config, _env = rp_config(services, name)
        assert registered[name] == config.base_url
        assert services[name]["environment"][f"{prefix}_CLIENT_FILE"] == f"/var/lib/idp/clients/{name}.json"
        assert "clients:/var/lib/idp/clients:ro" in services[name]["volumes"]
    assert "clients:/var/lib/idp/clients" in one_shot["volumes"]
    # The providers trust the same bundle for back-channel logout through nginx.
    assert services["provider-1"]["environment"]["IDP_OUTBOUND_CA_FILE"] == "/certs/ca-bundle.pem"


def test_the_providers_may_call_the_relying_parties_through_nginx_and_nothing_else_internal(services):
    """Inside the stack the public host name is nginx's alias (a private address), so the outbound
    policy needs that name and nginx's address allow-listed; registering the relying parties'
    back-channel URLs passes under these settings, and other internal addresses stay refused."""
    from idp.core.errors import ClientMetadataError
    from idp.core.outbound import AllowList, OutboundClient, OutboundError
    from idp.domain.clients.rules import check_server_uri

    env = services["provider-1"]["environment"]
    allow = AllowList.parse(resolved(env["IDP_OUTBOUND_ALLOW"]).split(","))
    nginx = services["nginx"]["networks"]["backend"]
    host = resolved(nginx["aliases"][0])
    assert allow.permits_host(host) and allow.permits_host(nginx["ipv4_address"])
    assert [str(n) for n in allow.networks] == [f"{nginx['ipv4_address']}/32"]
    for name in RELYING_PARTIES:
        config, _env = rp_config(services, name)
        check_server_uri(config.base_url + "/backchannel-logout", "backchannel_logout_uri", allow)
    # A name that resolves to another address on the backend network (the database, say) stays refused.
    client = OutboundClient(allow, resolver=lambda h, p: ["172.30.0.5"])
    with pytest.raises(OutboundError) as info:
        client.get(f"https://{host}:5432/")
    assert info.value.refused
    with pytest.raises(ClientMetadataError):
        check_server_uri("https://172.30.0.5:5432/", "backchannel_logout_uri", allow)
