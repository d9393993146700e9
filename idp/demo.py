"""Seed the embedded demo (run by ``make demo``): a demo student and a demo relying-party client.

Idempotent: a second run keeps what exists and prints the same credentials.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from . import create_app, services
from .db import users as user_repo
from .db.models import Client
from .registration import ClientSpec, build_client

DEMO_USER = {"registration_number": "S1000001", "email": "ada@example.edu", "name": "Ada Lovelace",
             "role": "student"}
DEMO_PASSWORD = "spom-demo-password"
DEMO_CLIENT = "SPOM Dashboard (demo)"
DEMO_REDIRECT = "http://127.0.0.1:8001/callback"


def seed() -> dict:
    app = create_app()
    with app.app_context(), services.database().session() as db:
        if user_repo.get_user_by_login(db, DEMO_USER["registration_number"]) is None:
            user_repo.create_user(db, **DEMO_USER, password_hash=services.hasher().hash(DEMO_PASSWORD),
                                  now=services.now())
        secret_file = Path(services.settings().instance_dir) / "demo_client.json"
        client = db.scalar(select(Client).where(Client.name == DEMO_CLIENT))
        if client is None or not secret_file.exists():
            if client is not None:
                db.delete(client)
            row, secret = build_client(ClientSpec(name=DEMO_CLIENT, redirect_uris=[DEMO_REDIRECT],
                                                  post_logout_redirect_uris=["http://127.0.0.1:8001/"],
                                                  trusted=True),
                                       secret_key=services.settings().secret_key, now=services.now())
            db.add(row)
            secret_file.write_text(json.dumps({"client_id": row.client_id, "client_secret": secret}))
            secret_file.chmod(0o600)
        db.commit()
        creds = json.loads(secret_file.read_text())
        return {"issuer": services.settings().issuer, "outbox": str(services.settings().outbox_path), **creds}


def main() -> None:
    info = seed()
    print(f"""
SPOM Login demo
  Provider:        {info['issuer']}
  Discovery:       {info['issuer']}/.well-known/openid-configuration
  Sign-in page:    {info['issuer']}/login
  Demo student:    {DEMO_USER['registration_number']} (or {DEMO_USER['email']}) / password: {DEMO_PASSWORD}
  Mail outbox:     {info['outbox']}/  (reset links as .eml files; "Forgot password?" on the sign-in page)
  Demo client:     client_id={info['client_id']} client_secret={info['client_secret']}
                   redirect_uri={DEMO_REDIRECT}
""")


if __name__ == "__main__":
    main()
