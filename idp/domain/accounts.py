"""Account lifecycle shared by the pages and the CLI: reset and invitation links, setting a
password, signing a user out everywhere, disabling. Callers commit; mail goes out after commit."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext
from sqlalchemy.orm import Session

from idp.http import mail as notifications
from idp import services
from idp.storage.sql import audit, resets, sessions as session_repo, tokens as token_repo, users as user_repo
from idp.storage.sql.models import User
from idp.domain.password_policy import context_for, get_policy
from idp.core.errors import PolicyError


def reset_link(token: str) -> str:
    return f"{services.settings().issuer}/password/reset?token={token}"


def issue_link(db: Session, user: User, *, purpose: str = "reset", interaction_id: str | None = None) -> str:
    """A new single-use link for ``user`` (voids earlier ones); returns its URL."""
    settings = services.settings()
    lifetime = settings.invite_link_seconds if purpose == "invite" else settings.reset_link_seconds
    token = resets.issue(db, user.id, now=services.now(), lifetime=lifetime, purpose=purpose,
                         interaction_id=interaction_id)
    return reset_link(token)


def link_mail_context(user: User, link: str) -> dict:
    settings = services.settings()
    return {"name": user.display_name or user.registration_number, "registration_number": user.registration_number,
            "link": link, "minutes": settings.reset_link_seconds // 60, "days": settings.invite_link_seconds // 86400}


def check_new_password(user: User, password: str, confirmation: str | None = None) -> None:
    """Raise ``PolicyError`` unless ``password`` may become the user's password."""
    if confirmation is not None and password != confirmation:
        raise PolicyError([gettext("The two passwords do not match.")])
    problems = get_policy().check(password, context_for(user))
    if problems:
        raise PolicyError(problems)


def set_password(db: Session, user: User, password: str) -> None:
    """Store a new password (already checked) and void every outstanding reset link."""
    now = services.now()
    user_repo.set_password_hash(db, user, services.hasher().hash(password), now)
    resets.supersede_all(db, user.id, now)


def sign_out_everywhere(db: Session, user_id: int, *, except_session_id: str | None = None) -> list[str]:
    """End the user's sessions (all, or all but one) and revoke the tokens apps hold through them.

    With no exception every grant of the user is revoked (every refresh and access token); when
    one session is kept, only the grants made through the sessions that ended."""
    now = services.now()
    ended = session_repo.end_user_sessions(db, user_id, now, except_session_id=except_session_id)
    if except_session_id is None:
        token_repo.revoke_user_tokens(db, user_id, now)
    else:
        token_repo.revoke_user_tokens(db, user_id, now, session_ids=ended)
    return ended


def sign_out_session(db: Session, user_id: int, session_id: str) -> list[str]:
    """End one of the user's sessions and revoke the tokens of the apps signed in through it."""
    now = services.now()
    ended = session_repo.end_user_sessions(db, user_id, now, only_session_id=session_id)
    token_repo.revoke_user_tokens(db, user_id, now, session_ids=ended)
    return ended


def disable(db: Session, user: User) -> None:
    user.active = False
    resets.supersede_all(db, user.id, services.now())
    sign_out_everywhere(db, user.id)


def notify_password_changed(user: User, lang: str, *, signed_out: bool, later: bool = True):
    if not user.email:
        return None
    return notifications.send("changed", user.email, lang, later=later, changed_at=services.now(),
                              signed_out=signed_out,
                              name=user.display_name or user.registration_number,
                              registration_number=user.registration_number,
                              forgot_link=f"{services.settings().issuer}/password/forgot")


def request_reset_later(login: str, lang: str, interaction_id: str | None, audit_fields: dict) -> None:
    """Handle a "forgot password" request on the mail thread, so the page answers in the same
    time whether or not the account exists (the lookup, token and mail all happen later)."""
    app = current_app._get_current_object()

    def job():
        with app.app_context():
            _request_reset(login, lang, interaction_id, audit_fields)

    notifications.postman().run_later(job)


def _request_reset(login: str, lang: str, interaction_id: str | None, audit_fields: dict) -> None:
    from idp.storage.sql.database import get_session

    db = get_session()
    user = user_repo.get_user_by_login(db, login)
    if user is None or not user.active or not user.email:
        reason = "unknown_user" if user is None else ("disabled" if not user.active else "no_email")
        audit.record(db, audit.PASSWORD_RESET_REQUESTED, now=services.now(), user_id=user.id if user else None,
                     outcome="ignored", reason=reason, **audit_fields)
        db.commit()
        return
    link = issue_link(db, user, interaction_id=interaction_id)
    audit.record(db, audit.PASSWORD_RESET_REQUESTED, now=services.now(), user_id=user.id, outcome="sent",
                 **audit_fields)
    db.commit()
    notifications.send("reset", user.email, lang, later=False, **link_mail_context(user, link))
