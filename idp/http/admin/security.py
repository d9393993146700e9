"""Admin API routes for security staff (issue 20, the console's "Security" pages): signing keys
(list, rotate, emergency revoke), sign-in anomalies from the audit trail, the sign-in throttle of an
account or an IP, and the settings that are safe to show.

The key changes run the same domain code as ``idp keys`` (``idp.domain.keys.lifecycle``) in the
request's unit of work; a refusal of the lifecycle rules is a 409 problem that says why. This
process re-reads its keys once the change is committed, so ``/jwks.json`` here shows it at once
(other processes within ``IDP_KEYS_RELOAD_SECONDS``)."""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from idp.core.errors import KeyLifecycleError, PublicationPeriodError
from idp.domain.keys import lifecycle
from idp.domain.keys.material import JWS_ALGS, family_of
from idp.domain.signin import account_key
from idp.domain.staff import IDENTITY, SECURITY
from idp.http import uow
from idp.http.admin import Problem, actor, allow, bp, now
from idp.http.admin.views import REASON_MAX, _iso, _json_object
from idp.http.context import deps, request_info
from idp.storage.sql import audit
from idp.storage.sql import keys as key_repo
from idp.storage.sql import users as user_repo
from idp.storage.sql.models import StoredKey, User

#: The anomalies' "throttled now": engagements within this many seconds.
THROTTLED_WINDOW_SECONDS = 3600
#: The anomalies' failure histogram: this many whole hours, the current one last.
FAILURE_HOURS = 24
#: Longest IP address the throttle endpoints take (an IPv6 address with a zone is no client address).
MAX_IP_LENGTH = 45
#: Longest kid looked up (ours are 22 to 43 characters); a longer one is simply not found.
MAX_KID_LENGTH = 64


def _policy() -> lifecycle.Policy:
    return lifecycle.Policy.from_settings(deps().settings)


def _refresh_keys_after_commit() -> None:
    """Once the change is committed, this process re-reads its keys (``/jwks.json``, signing)."""
    refresh = getattr(deps().keystore, "refresh", None)
    if callable(refresh):
        uow.on_commit(refresh)


def _key(row: StoredKey, policy: lifecycle.Policy) -> dict[str, Any]:
    d = lifecycle.describe(row, policy)
    return {
        "kid": d["kid"],
        "alg": d["alg"],
        "state": d["state"],
        "created": _iso(d["created"]),
        "activated": _iso(d["activated"]),
        "retires_at": _iso(d["retires_at"]),
        "removes_at": _iso(d["removes_at"]),
        "revoked": _iso(d["revoked"]),
    }


def _optional_body() -> dict[str, Any]:
    return _json_object() if request.content_length else {}


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Problem(400, "invalid_parameter", f"{name} must be true or false.", field=name)
    return value


@bp.get("/keys")
@allow(SECURITY)
def list_keys() -> Response:
    """Every stored signing key (never private material), oldest first per family."""
    policy = _policy()
    rows = key_repo.list_keys(uow.session())
    return jsonify({"keys": [_key(r, policy) for r in rows], "publication_seconds": policy.publication_seconds})


@bp.post("/keys/rotate")
@allow(SECURITY)
def rotate_keys() -> Response:
    """Promote next to current and publish a new next key, for one family (``alg``) or every family
    in use, in one transaction: refused (409 ``publication_period``) while a next key has not been
    published for ``IDP_KEY_PUBLICATION_SECONDS``, unless ``force``."""
    body = _optional_body()
    alg, force = body.get("alg"), _boolean(body, "force")
    if alg is not None and (not isinstance(alg, str) or alg not in JWS_ALGS):
        raise Problem(400, "invalid_parameter", f"alg must be one of {', '.join(JWS_ALGS)}.", field="alg")
    db, t, policy = uow.session(), now(), _policy()
    in_use = sorted({r.alg for r in key_repo.list_keys(db) if r.state == "current"})
    families = [family_of(alg)] if alg else in_use
    if not in_use:
        raise Problem(409, "no_keys", "There are no signing keys yet; the provider makes them on first use.")
    if families[0] not in in_use:
        raise Problem(
            409,
            "alg_not_in_use",
            f"No {families[0]} key signs here, so there is nothing to rotate; in use: {', '.join(in_use)}.",
            field="alg",
        )
    done = []
    for family in families:
        try:
            row = lifecycle.rotate(db, family, t, policy, force=force, audit_fields={"source": actor()})
        except PublicationPeriodError as exc:
            raise Problem(409, "publication_period", _publication_detail(exc, t, policy)) from None
        except KeyLifecycleError as exc:
            raise Problem(409, "key_lifecycle", str(exc)) from None
        done.append({"alg": family, "current": row.kid})
    _refresh_keys_after_commit()
    return jsonify({"rotated": done})


def _publication_detail(exc: PublicationPeriodError, t: float, policy: lifecycle.Policy) -> str:
    wait = max(0, math.ceil(exc.ready_at - t))
    return (
        f"Rotation of {exc.family} is possible from {_iso(exc.ready_at)} (in {wait} s): its next key {exc.kid} "
        f"has been published for {max(0, int(t - (exc.ready_at - policy.publication_seconds)))} s only, less "
        f"than IDP_KEY_PUBLICATION_SECONDS ({policy.publication_seconds} s). Relying parties cache /jwks.json "
        "and may not have fetched that key yet; tokens it signed now would fail to verify there. Nothing was "
        "rotated. In an emergency send force: true."
    )


@bp.post("/keys/<kid>/revoke")
@allow(SECURITY)
def revoke_key(kid: str) -> Response:
    """Emergency: withdraw a key from /jwks.json at once (tokens it signed stop verifying here). The
    body repeats the kid in ``confirm`` (typed confirmation) and gives the ``reason`` (audited)."""
    body = _json_object()
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise Problem(
            400, "reason_required", "Give the reason for the revocation in reason (kept in the audit trail).", "reason"
        )
    if len(reason) > REASON_MAX:
        raise Problem(400, "invalid_parameter", f"reason must be at most {REASON_MAX} characters.", field="reason")
    end_sessions = _boolean(body, "end_sessions")
    if body.get("confirm") != kid:
        raise Problem(
            400,
            "confirmation_mismatch",
            "confirm must repeat the kid of the key to revoke exactly; nothing was revoked.",
            field="confirm",
        )
    db = uow.session()
    row = key_repo.get_key(db, kid) if len(kid) <= MAX_KID_LENGTH else None
    if row is None:
        raise Problem(404, "key_not_found", "There is no signing key with this kid.")
    if row.state == "revoked":
        raise Problem(409, "key_revoked", "This key is already revoked.")
    try:
        result = lifecycle.revoke(
            db, kid, now(), _policy(), reason=reason, end_sessions=end_sessions, audit_fields={"source": actor()}
        )
    except KeyLifecycleError as exc:
        raise Problem(409, "key_lifecycle", str(exc)) from None
    _refresh_keys_after_commit()
    return jsonify(result)


@bp.get("/anomalies")
@allow(SECURITY)
def anomalies() -> Response:
    """From the audit trail: who is throttled now (``throttle.engaged`` within the last hour) and the
    failed sign-ins (``login.failure``) per hour of the last 24 hours, the current hour last."""
    db, t = uow.session(), now()
    first_hour = math.floor(t / 3600) - (FAILURE_HOURS - 1)
    counts = audit.count_per_hour(db, audit.LOGIN_FAILURE, first_hour=first_hour, hours=FAILURE_HOURS)
    accounts, ips = audit.throttle_engagements(db, since=t - THROTTLED_WINDOW_SECONDS, until=t)
    users = {u.id: u for u in _users(db, [user_id for user_id, _, _ in accounts if user_id is not None])}
    return jsonify(
        {
            "throttled": {
                "since": _iso(t - THROTTLED_WINDOW_SECONDS),
                "accounts": [_account(users.get(user_id) if user_id else None, at, n) for user_id, at, n in accounts],
                "ips": [{"ip": ip, "at": _iso(at), "events": n} for ip, at, n in ips],
            },
            "failures_per_hour": [{"hour": _iso((first_hour + i) * 3600.0), "count": n} for i, n in enumerate(counts)],
        }
    )


def _users(db: Session, ids: list[int]) -> list[User]:
    return [u for u in (user_repo.get_user(db, i) for i in ids) if u is not None]


def _account(user: User | None, at: float, events: int) -> dict[str, Any]:
    """An unknown username is throttled too, but never stored (people type passwords there): it is
    ``user`` and ``login`` null, all such engagements together."""
    return {
        "user": user.sub if user else None,
        "login": user.registration_number if user else None,
        "at": _iso(at),
        "events": events,
    }


THROTTLE_ROLES = (IDENTITY, SECURITY)


def _throttle_target() -> tuple[str | None, str | None, User | None]:
    """(account key, ip, the named user if known) from ``user`` and ``ip``, as ``idp throttle`` takes them."""
    login, ip = request.args.get("user"), request.args.get("ip")
    if not login and not ip:
        raise Problem(400, "invalid_parameter", "Give user (a login) and/or ip.", field="user")
    if login is not None and (not login.strip() or len(login) > deps().settings.accounts.max_login_length):
        raise Problem(
            400,
            "invalid_parameter",
            f"user must be a registration number or e-mail of at most {deps().settings.accounts.max_login_length} "
            "characters.",
            field="user",
        )
    if ip is not None:
        try:
            ip = str(ipaddress.ip_address(ip.strip())) if len(ip) <= MAX_IP_LENGTH else ""
        except ValueError:
            ip = ""
        if not ip:
            raise Problem(400, "invalid_parameter", "ip must be an IPv4 or IPv6 address.", field="ip")
    user, key = None, None
    if login:
        user = user_repo.get_user_by_login(uow.session(), login)
        key = account_key(user, login)
    return key, ip, user


@bp.get("/throttle")
@allow(*THROTTLE_ROLES)
def throttle_status() -> Response:
    """What the sign-in throttle holds for an account and/or an IP (as ``idp throttle status --json``)."""
    key, ip, _user = _throttle_target()
    return jsonify(deps().throttle.status(account=key, ip=ip))


@bp.delete("/throttle")
@allow(*THROTTLE_ROLES)
def throttle_clear() -> Response:
    """Forget the counters of an account (with its known devices) and/or an IP; audited."""
    key, ip, user = _throttle_target()
    cleared = deps().throttle.clear(account=key, ip=ip)
    audit.record(
        uow.session(),
        audit.THROTTLE_CLEARED,
        now=now(),
        user_id=user.id if user else None,
        **request_info().audit_fields(),
        actor=actor(),
        account=key is not None,
        address=ip,
        counters=cleared,
    )
    return jsonify({"cleared": cleared})


#: The settings ``GET /settings`` shows, per section: durations, limits and policies. Never a secret,
#: a passphrase, a URL (a database or Redis URL may hold a password) or the SMTP account.
SAFE_SETTINGS: dict[str, tuple[str, ...]] = {
    "sessions": ("idle_seconds", "max_seconds", "interaction_seconds"),
    "tokens": (
        "code_seconds",
        "access_token_seconds",
        "id_token_seconds",
        "refresh_token_seconds",
        "refresh_reuse_grace_seconds",
        "access_token_alg",
    ),
    "mfa": ("required_roles", "grace_days", "grace_signins"),
    "throttle": (
        "rate_login_ip_limit",
        "rate_login_ip_seconds",
        "account_free",
        "device_free",
        "delay_seconds",
        "max_delay_seconds",
        "reset_seconds",
        "device_cookie_days",
        "device_link_seconds",
        "rate_password_forgot_ip_limit",
        "rate_password_forgot_ip_seconds",
        "rate_password_forgot_account_limit",
        "rate_password_forgot_account_seconds",
        "rate_device_link_ip_limit",
        "rate_device_link_ip_seconds",
        "rate_device_link_account_limit",
        "rate_device_link_account_seconds",
        "rate_password_reset_ip_limit",
        "rate_password_reset_ip_seconds",
        "rate_passkey_options_ip_limit",
        "rate_passkey_options_ip_seconds",
        "rate_register_ip_limit",
        "rate_register_ip_seconds",
        "rate_token_client_limit",
        "rate_token_client_seconds",
    ),
    "keys": ("rotation_days", "publication_seconds", "jwks_max_age_seconds", "clock_skew_seconds", "reload_seconds"),
    "clients": ("open_registration", "require_pkce_default"),
}


@bp.get("/settings")  # the identity team's (no allow: the default)
def safe_settings() -> Response:
    """The settings in force that are safe to show; storage only by kind."""
    s = deps().settings
    body: dict[str, Any] = {"issuer": s.server.issuer}
    for section, names in SAFE_SETTINGS.items():
        values = getattr(s, section)
        body[section] = {name: _plain(getattr(values, name)) for name in names}
    body["storage"] = {
        "database": make_url(s.storage.database_url).get_backend_name(),
        "store": "redis" if s.storage.redis_url else "memory",
        "audit_retention_days": s.storage.audit_retention_days,
    }
    body["mail"] = {"delivery": "smtp" if s.mail.smtp_host else "outbox"}
    return jsonify(body)


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
