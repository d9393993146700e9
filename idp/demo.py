"""``make demo``: the provider, both relying parties and the console on the embedded defaults.

``python -m idp.demo`` seeds the demo users (a student, an employee, a vendor, and the console's
identity-team, security and app-team members with their roles) and registers the SPOM dashboard,
the Supplier Portal and the console (idempotent: a second run keeps what exists and prints the
same credentials), then runs the four servers as child processes and prints their URLs. One
Ctrl-C stops all of them: each child gets SIGTERM (a graceful shutdown of its server), and SIGKILL only
if it has not exited after ten seconds. ``--seed-only`` seeds and prints without serving.

The servers' own log lines are quiet by default: the launcher shows only warnings, errors and the
line naming each mail written to the outbox (where the reset links are), each after a ``demo:``
prefix that stands out; ``--verbose`` passes every server line through, dimmed and named.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

from sqlalchemy import select

from idp.app import create_app, deps_of
from idp.core.outbound import AllowList
from idp.core.settings import Settings
from idp.domain.clients.rules import ClientSpec, build_client, console_spec
from idp.storage.sql import staff as staff_repo
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import Client

DEMO_PASSWORD = "spom-demo-password"
DEMO_USERS = [
    {"registration_number": "S1000001", "email": "ada@example.edu", "name": "Ada Lovelace", "role": "student"},
    {"registration_number": "E2000001", "email": "grace@example.edu", "name": "Grace Hopper", "role": "employee"},
    {
        "registration_number": "V3000001",
        "email": "orders@acme.example",
        "name": "Acme Campus Services",
        "role": "vendor",
    },
]
#: The console's three kinds of user (issue 20): their console roles, given by the seed. The app team
#: "dashboard" owns the SPOM Dashboard client, so its member sees that client and no other.
DEMO_STAFF = [
    {
        "registration_number": "E2000010",
        "email": "katherine@example.edu",
        "name": "Katherine Johnson",
        "role": "employee",
        "console_role": "idp:admin",
    },
    {
        "registration_number": "E2000011",
        "email": "alan@example.edu",
        "name": "Alan Turing",
        "role": "employee",
        "console_role": "idp:security",
    },
    {
        "registration_number": "E2000012",
        "email": "margaret@example.edu",
        "name": "Margaret Hamilton",
        "role": "employee",
        "console_role": "team:dashboard",
    },
]
#: The app team that owns each demo client (None: the identity team's own).
DEMO_TEAMS = {"dashboard": "dashboard", "portal": "procurement", "console": None}
#: The demo's help contact (shown on /help), so its help page shows how one looks; an operator's
#: own ``IDP_HELP_CONTACT_*`` variables win.
DEMO_HELP_CONTACT = {
    "IDP_HELP_CONTACT_NAME": "SPOM IT service desk (demo)",
    "IDP_HELP_CONTACT_EMAIL": "servicedesk@example.edu",
    "IDP_HELP_CONTACT_PHONE": "+49 30 1234567",
    "IDP_HELP_CONTACT_HOURS": "Mon–Fri 8:00–18:00",
}
#: Employees must use a second factor, after one sign-in of grace (so the demo shows the notice, then
#: the enrolment); the operator's own ``IDP_MFA_*`` variables win.
DEMO_MFA = {"IDP_MFA_REQUIRED_ROLES": "employee", "IDP_MFA_GRACE_SIGNINS": "1"}
#: (key, client name, environment prefix of the app, python module that serves it)
DEMO_APPS = [
    ("dashboard", "SPOM Dashboard", "DASHBOARD", "clients.dashboard"),
    ("portal", "Supplier Portal", "SUPPLIER_PORTAL", "clients.supplier_portal"),
    ("console", "SPOM Login console", "CONSOLE", "clients.console"),
]
STOP_SECONDS = 10
#: Server log records shown without ``--verbose``: at least this level, or naming an outbox mail.
SHOWN_LEVELS = {"WARNING", "ERROR", "CRITICAL"}
OUTBOX_MARK = "written to outbox"


def seed(urls: dict[str, str]) -> dict:
    """Users and the two clients (registered for ``urls``); returns the saved client credentials."""
    d = deps_of(create_app())
    with d.database.transaction() as db:
        for user in DEMO_USERS + DEMO_STAFF:
            person = user_repo.get_user_by_login(db, user["registration_number"])
            if person is None:
                person = user_repo.create_user(
                    db,
                    registration_number=user["registration_number"],
                    email=user["email"],
                    name=user["name"],
                    role=user["role"],
                    password_hash=d.hasher.hash(DEMO_PASSWORD),
                    now=d.now(),
                )
            if "console_role" in user:
                staff_repo.add_role(db, person.id, user["console_role"], now=d.now(), granted_by="demo")
        creds_file = Path(d.settings.server.instance_dir) / "demo_clients.json"
        creds = json.loads(creds_file.read_text()) if creds_file.exists() else {}
        for key, name, _prefix, _module in DEMO_APPS:
            base = urls[key]
            saved = creds.get(key, {})
            row = db.get(Client, saved["client_id"]) if saved.get("client_id") else None
            if row is not None and row.team != DEMO_TEAMS[key]:
                row.team = DEMO_TEAMS[key]  # an instance seeded before the console had teams
            if row is None or row.redirect_uris != [base + "/callback"]:
                for old in db.scalars(select(Client).where(Client.name == name)):
                    db.delete(old)
                db.flush()
                spec = (
                    console_spec(base)
                    if key == "console"
                    else ClientSpec(
                        name=name,
                        redirect_uris=[base + "/callback"],
                        post_logout_redirect_uris=[base + "/signed-out"],
                        backchannel_logout_uri=base + "/backchannel-logout",
                        scope="openid profile email",
                        trusted=True,
                    )
                )
                row, secret = build_client(
                    spec,
                    secret_key=d.settings.server.secret_key,
                    now=d.now(),
                    team=DEMO_TEAMS[key],
                    allow=d.outbound.allow,
                )
                db.add(row)
                creds[key] = {
                    "client_id": row.client_id,
                    "client_secret": secret,
                    "app_secret": saved.get("app_secret") or secrets.token_urlsafe(32),
                }
    creds_file.write_text(json.dumps(creds, indent=2))
    creds_file.chmod(0o600)
    return creds


def example_help_contact(environ: MutableMapping[str, str]) -> None:
    """Fill in the demo help contact where ``environ`` sets none (the provider process inherits it)."""
    if not any(environ.get(name, "").strip() for name in DEMO_HELP_CONTACT):
        environ.update(DEMO_HELP_CONTACT)


def allow_loopback(environ: MutableMapping[str, str]) -> None:
    """The demo's relying parties listen on plain-http loopback and receive back-channel logout:
    add 127.0.0.1 to ``IDP_OUTBOUND_ALLOW`` (kept as given when it already allows it). The
    provider process inherits it from this one."""
    current = environ.get("IDP_OUTBOUND_ALLOW", "")
    if not AllowList.parse(p for p in current.split(",") if p.strip()).permits_host("127.0.0.1"):
        environ["IDP_OUTBOUND_ALLOW"] = ",".join(p for p in (current, "127.0.0.1/32") if p.strip())


def child_environments(issuer: str, urls: dict[str, str], creds: dict, instance: Path) -> dict[str, dict]:
    env = {"provider": {**os.environ, "IDP_ISSUER": issuer}}
    for key, _name, prefix, _module in DEMO_APPS:
        env[key] = {
            **os.environ,
            f"{prefix}_ISSUER": issuer,
            f"{prefix}_BASE_URL": urls[key],
            f"{prefix}_CLIENT_ID": creds[key]["client_id"],
            f"{prefix}_CLIENT_SECRET": creds[key]["client_secret"],
            f"{prefix}_SECRET_KEY": creds[key]["app_secret"],
            f"{prefix}_DATABASE": str(instance / f"{key}.sqlite3"),
            "DASHBOARD_URL": urls["dashboard"],
            "SUPPLIER_PORTAL_URL": urls["portal"],
        }
    return env


def style(text: str, code: str, stream: IO[str]) -> str:
    """``text`` in an ANSI style (``1`` bold, ``2`` dim) when ``stream`` is a terminal; plain otherwise."""
    return f"\033[{code}m{text}\033[0m" if stream.isatty() and not os.environ.get("NO_COLOR") else text


def say(text: str) -> None:
    """One of the demo's own lines: prefixed and bold, so it stands out among the servers' lines."""
    print(style(f"demo: {text}", "1", sys.stderr), file=sys.stderr, flush=True)


def server_line(name: str, line: str, verbose: bool) -> str | None:
    """What the launcher prints for one line a server wrote (None: keep quiet).

    Quiet mode keeps a record the user must see: a warning or an error, and the mail-outbox line
    (JSON records as the provider writes them; plain lines from gunicorn and the relying parties
    count when they say ERROR or CRITICAL). ``--verbose`` shows every line, dimmed."""
    line = line.rstrip("\n")
    if verbose:
        return style(f"[{name}] {line}", "2", sys.stderr)
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        message, level = str(record.get("message", "")), str(record.get("level", ""))
    else:
        message, level = line, next((lv for lv in ("ERROR", "CRITICAL") if lv in line), "")
    if OUTBOX_MARK in message:
        return style(f"demo: {name}: {message}", "1", sys.stderr)
    if level in SHOWN_LEVELS:
        return f"demo: {name} {level.lower()}: {message}"
    return None


def _relay(name: str, stream: IO[str], verbose: bool) -> None:
    for line in stream:
        shown = server_line(name, line, verbose)
        if shown is not None:
            print(shown, file=sys.stderr, flush=True)


def run(commands: dict[str, tuple[list[str], dict]], verbose: bool = False) -> int:
    """Start every command in its own process group; stop all on Ctrl-C, SIGTERM or the first exit.

    Each child's output goes through ``server_line`` (quiet unless ``verbose``)."""
    children = {}
    stopping = False

    def stop(_signum: int | None = None, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, (argv, env) in commands.items():
        # A session of its own: the terminal's Ctrl-C reaches only this launcher, which stops the
        # children in order instead of racing them.
        children[name] = subprocess.Popen(  # noqa: S603 - argv is our own fixed command list, never user input
            argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        stream = children[name].stdout
        if stream is not None:  # always, with PIPE (the type allows None)
            threading.Thread(target=_relay, args=(name, stream, verbose), daemon=True).start()
    status = 0
    while not stopping:
        exited = [n for n, p in children.items() if p.poll() is not None]
        if exited:
            hint = "" if verbose else " (run with --verbose for its log)"
            say(f"{exited[0]} exited with status {children[exited[0]].returncode}; stopping{hint}")
            status = 1
            break
        time.sleep(0.2)
    for proc in children.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    say("stopped")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m idp.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider-port", type=int, default=8000)
    parser.add_argument("--dashboard-port", type=int, default=8001)
    parser.add_argument("--portal-port", type=int, default=8002)
    parser.add_argument("--console-port", type=int, default=8003)
    parser.add_argument("--seed-only", action="store_true", help="Seed and print, do not serve.")
    parser.add_argument(
        "--verbose", action="store_true", help="Show every log line of the four servers (default: warnings and mail)."
    )
    args = parser.parse_args(argv)
    # A host name, not 127.0.0.1: browsers refuse an IP address as a passkey's RP ID (WebAuthn §5.1.4.1),
    # and `localhost` is loopback for them and for the provider's plain-http rule alike.
    issuer = f"http://localhost:{args.provider_port}"
    os.environ.setdefault("IDP_ISSUER", issuer)
    allow_loopback(os.environ)
    example_help_contact(os.environ)
    for name, value in DEMO_MFA.items():
        os.environ.setdefault(name, value)
    urls = {
        "dashboard": f"http://127.0.0.1:{args.dashboard_port}",
        "portal": f"http://127.0.0.1:{args.portal_port}",
        "console": f"http://127.0.0.1:{args.console_port}",
    }
    os.environ.setdefault("IDP_CONSOLE_URL", urls["console"])
    first_run = not (Path(Settings.from_env().server.instance_dir) / "demo_clients.json").exists()
    creds = seed(urls)
    # On a later run a user may have changed (or reset) the password: the demo does not reset it.
    unless_changed = "" if first_run else " (unless changed)"
    outbox = Settings.from_env().mail.outbox_path
    print(
        f"""
SPOM Login demo
  Provider:         {issuer}   (discovery: {issuer}/.well-known/openid-configuration)
  SPOM Dashboard:   {urls["dashboard"]}
  Supplier Portal:  {urls["portal"]}
  Console:          {urls["console"]}   (identity team, app teams, security staff; a second factor is asked)
  Mail outbox:      {outbox}/  (reset links as .eml files; "Forgot password?" on the sign-in page)
  Password for every demo user: {DEMO_PASSWORD}{unless_changed}
    student   S1000001  (ada@example.edu)      dashboard: modules, assessments
    employee  E2000001  (grace@example.edu)    dashboard: teaching; portal: approvals
              (employees need a second step: after one sign-in, an authenticator app or a passkey)
    vendor    V3000001  (orders@acme.example)  dashboard: induction; portal: orders
  Console users (same password; each sets up a second factor at the first sign-in):
    identity team   E2000010  (katherine@example.edu)  users, every client, registration tokens, throttle
    security staff  E2000011  (alan@example.edu)       signing keys, audit trail, anomalies
    app team        E2000012  (margaret@example.edu)   team "dashboard": the SPOM Dashboard client only
  Clients:          {", ".join(f"{k}={v['client_id']}" for k, v in creds.items())}
                    (secrets in {Path(os.environ.get("IDP_INSTANCE_DIR", "instance")) / "demo_clients.json"})
  Press Ctrl-C once to stop all four.
""",
        flush=True,
    )
    if args.seed_only:
        return 0
    instance = Path(os.environ.get("IDP_INSTANCE_DIR", "instance")).resolve()
    env = child_environments(issuer, urls, creds, instance)
    python = sys.executable
    commands = {
        "provider": (
            [python, "-m", "idp.cli", "serve", "--workers", "1", "--threads", "4", "--port", str(args.provider_port)],
            env["provider"],
        )
    }
    for key, _name, _prefix, module in DEMO_APPS:
        commands[key] = ([python, "-m", module], env[key])
    return run(commands, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
