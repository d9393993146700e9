"""Register the relying parties of docker-compose.yml with the provider, once (``register-clients``).

Usage: python register_clients.py OUT_DIR NAME=BASE_URL [NAME=BASE_URL ...]

For each NAME (``dashboard``, ``supplier-portal``) it runs ``idp clients create … --trusted --json``
with the redirect, post-logout and back-channel logout URIs under BASE_URL, and writes what the
command printed (``client_id`` and ``client_secret``) to OUT_DIR/NAME.json (mode 600), which the
relying party reads through ``<PREFIX>_CLIENT_FILE``. A NAME whose file exists and whose client is
still registered is left alone, so restarting the stack never registers a client twice. The
provider's settings come from the same ``IDP_*`` environment as the replicas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def registered(client_id: str) -> bool:
    shown = subprocess.run(["idp", "clients", "show", client_id, "--json"], capture_output=True, text=True)
    return shown.returncode == 0


def register(out_dir: Path, name: str, base_url: str) -> str:
    path = out_dir / f"{name}.json"
    if path.exists():
        try:
            client_id = json.loads(path.read_text())["client_id"]
        except (ValueError, KeyError):
            client_id = ""
        if client_id and registered(client_id):
            return f"{name}: already registered as {client_id}; keeping it"
    title = {"dashboard": "SPOM Dashboard", "supplier-portal": "Supplier Portal"}.get(name, name)
    created = subprocess.run(
        [
            "idp",
            "clients",
            "create",
            "--name",
            title,
            "--trusted",
            "--json",
            "--redirect-uri",
            f"{base_url}/callback",
            "--post-logout-redirect-uri",
            f"{base_url}/signed-out",
            "--backchannel-logout-uri",
            f"{base_url}/backchannel-logout",
        ],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        sys.exit(f"error: registering {name}: {created.stderr.strip() or created.stdout.strip()}")
    credentials = json.loads(created.stdout)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"client_id": credentials["client_id"], "client_secret": credentials["client_secret"]}, f)
    return f"{name}: registered as {credentials['client_id']}; credentials in {path}"


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not all("=" in a for a in argv[1:]):
        sys.exit("usage: register_clients.py OUT_DIR NAME=BASE_URL [NAME=BASE_URL ...]")
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for pair in argv[1:]:
        name, base_url = pair.split("=", 1)
        print(register(out_dir, name, base_url.rstrip("/")), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
