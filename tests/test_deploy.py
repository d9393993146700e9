"""The deployment files are valid and say what docs/deploy.md promises (there is no Docker engine in
CI: the compose file is parsed and checked, the Dockerfile read line by line)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ONE_SHOT = {"migrate", "tls-init"}
REPLICAS = ("provider-1", "provider-2")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_every_service_the_deployment_needs_is_there(services):
    assert set(services) >= {"postgres", "redis", "migrate", *REPLICAS, "nginx", "dashboard", "supplier-portal",
                             "mailpit", "tls-init"}
    assert services["dashboard"]["command"] == ["python", "-m", "clients.dashboard"]
    assert services["supplier-portal"]["command"] == ["python", "-m", "clients.supplier_portal"]
    for name in ("migrate", *REPLICAS, "dashboard", "supplier-portal", "tls-init"):
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
        assert "command" not in services[name]  # the image's CMD: idp serve (gunicorn), no migration
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
    assert first["IDP_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:5432/" in first["IDP_DATABASE_URL"]
    assert first["IDP_REDIS_URL"].startswith("redis://redis:6379")
    assert first["IDP_ISSUER"].startswith("${IDP_ISSUER:-https://")
    for secret in ("IDP_SECRET_KEY", "IDP_KEYS_PASSPHRASE"):
        assert re.fullmatch(r"\$\{%s:\?.+\}" % secret, first[secret]), "secrets must come from .env, required"
    keys = [v for v in services["provider-1"]["volumes"] if v.endswith(":/var/lib/idp/keys")]
    assert keys == ["keys:/var/lib/idp/keys"] and keys[0] in services["migrate"]["volumes"]
    assert keys[0] in services["provider-2"]["volumes"] and "keys" in compose["volumes"]


def test_nginx_terminates_tls_sets_forwarded_headers_and_hides_metrics():
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    for upstream in REPLICAS:
        assert f"server {upstream}:8000" in conf
    assert "listen 443 ssl" in conf and "ssl_certificate     /etc/nginx/certs/tls.crt" in conf
    for header in ("X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme", "X-Forwarded-Host $host",
                   "X-Request-ID $request_id"):
        assert f"proxy_set_header {header};" in conf
    assert "location = /metrics { return 404; }" in conf


def test_the_self_signed_certificate_is_made_once(tmp_path):
    import subprocess
    import sys

    script = ROOT / "deploy" / "tls" / "self_signed.py"
    first = subprocess.run([sys.executable, str(script), str(tmp_path), "login.example.edu"], capture_output=True,
                           text=True, check=True)
    assert "written" in first.stdout
    cert = (tmp_path / "tls.crt").read_bytes()
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0
    again = subprocess.run([sys.executable, str(script), str(tmp_path), "login.example.edu"], capture_output=True,
                           text=True, check=True)
    assert "keeping it" in again.stdout and (tmp_path / "tls.crt").read_bytes() == cert


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


def test_dockerfile_runs_gunicorn_through_idp_serve_with_a_health_check():
    final = dockerfile_stages()[-1]
    cmd = [line for line in final if line.startswith("CMD ")]
    assert cmd and cmd[-1].startswith('CMD ["idp", "serve", "--host", "0.0.0.0"')
    assert any(line.startswith("HEALTHCHECK ") and "/healthz" in line for line in final)
    assert any("PROMETHEUS_MULTIPROC_DIR=" in line for line in final)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "instance"} <= set(ignored) and "keys/*.json" in ignored


def test_the_image_compiles_the_translations_it_does_not_copy_them():
    build = " ".join(dockerfile_stages()[0])
    assert "pip install ." in build and "python -m idp.i18n" in build
    assert build.index("pip install .") < build.index("python -m idp.i18n") < build.index("pip uninstall")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert "idp/translations/*/LC_MESSAGES/*.mo" in ignored and "node_modules" in ignored
