"""Account lifecycle shared by the pages, the admin API and the CLI: reset and invitation links,
setting or changing a password, signing a user out, disabling and enabling, the stored language.

Each operation records its audit event in the caller's unit of work and never commits; mail that
reports a change goes out only once that unit of work has committed (``after_commit``), so a
change that is rolled back never announces itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from idp.core.errors import PolicyError
from idp.core.languages import LANGUAGES
from idp.core.ports import Hasher, Notifier
from idp.core.request import RequestInfo
from idp.core.settings import Settings
from idp.core.text import Text
from idp.domain import sessions
from idp.domain.password_policy import PasswordPolicy, context_for
from idp.storage.sql import audit, consents, resets
from idp.storage.sql import staff as staff_repo
from idp.storage.sql import tokens as token_repo
from idp.storage.sql import users as user_repo
from idp.storage.sql.database import after_commit
from idp.storage.sql.models import PasswordResetToken, User


def mail_language(user: User, fallback: str) -> str:
    """The language of a mail to ``user``: the one they chose (``users.locale``), else ``fallback``
    (the language of the page that caused the mail)."""
    return user.locale if user.locale in LANGUAGES else fallback


class UnsupportedLanguage(ValueError):
    """An operator asked for a language the provider does not speak; the message names the allowed values."""


def check_locale(value: object) -> str | None:
    """The one rule for a ``users.locale`` an operator sets (admin API, ``idp users``, import): a
    language the provider speaks (``LANGUAGES``), or None for "not chosen" (the pages follow the
    browser). Raises ``UnsupportedLanguage`` naming the allowed values otherwise."""
    if value is None or (isinstance(value, str) and value in LANGUAGES):
        return value
    raise UnsupportedLanguage(
        f"locale must be one of {', '.join(LANGUAGES)}, or none (null in JSON) to follow the browser's language"
    )


def describe_user(user: User) -> dict[str, Any]:
    """What operators see of a user, the same in ``idp users`` and the admin API."""
    return {
        "sub": user.sub,
        "registration_number": user.registration_number,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.display_name,
        "role": user.role,
        "active": user.active,
        "locale": user.locale,
    }


def parse_locale(text: str) -> str | None:
    """``check_locale`` for a value typed on the command line or in a CSV cell: any case, and
    "none" or nothing for None."""
    code = text.strip().lower()
    return check_locale(None if code in ("", "none") else code)


@dataclass
class Accounts:
    """Account use cases within one unit of work ``db``; ``source`` names a non-HTTP actor (``cli``)."""

    db: Session
    settings: Settings
    now: Callable[[], float]
    hasher: Hasher
    notifier: Notifier
    info: RequestInfo = field(default_factory=RequestInfo)
    source: str | None = None

    def _audit(self, type: str, user: User | None, client_id: str | None = None, **details: Any) -> None:
        if self.source:
            details["source"] = self.source
        audit.record(
            self.db,
            type,
            now=self.now(),
            user_id=user.id if user else None,
            client_id=client_id,
            **self.info.audit_fields(),
            **details,
        )

    # -- passwords ---------------------------------------------------------------------------
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy(self.settings.accounts.password_min_length, self.settings.accounts.max_password_length)

    def check_new_password(self, user: User, password: str, confirmation: str | None = None) -> None:
        """Raise ``PolicyError`` (its problems are ``Text``) unless ``password`` may become the user's."""
        if confirmation is not None and password != confirmation:
            raise PolicyError([Text("The two passwords do not match.")])
        problems = self.policy().check(password, context_for(user))
        if problems:
            raise PolicyError(problems)

    def set_password(self, user: User, password: str) -> None:
        """Store a new password (already checked) and void every outstanding reset link."""
        now = self.now()
        user_repo.set_password_hash(self.db, user, self.hasher.hash(password), now)
        resets.supersede_all(self.db, user.id, now)

    def change_password(
        self, user: User, password: str, *, lang: str, keep_session_id: str, end_others: bool
    ) -> list[str]:
        """The signed-in user's new password (current one already checked); optionally end their other
        sessions. Audited; the user is told by mail once committed. Returns the sessions ended."""
        self.set_password(user, password)
        ended = self.sign_out_everywhere(user.id, except_session_id=keep_session_id) if end_others else []
        self._audit(audit.PASSWORD_CHANGED, user, ended_sessions=len(ended))
        self.notify_password_changed(user, lang, signed_out=False)
        return ended

    def reset_password(self, user: User, password: str, *, link: PasswordResetToken, lang: str) -> list[str]:
        """A password set through a reset or invitation ``link``: every session ends (back-channel logout
        queued), every token is revoked, an e-mailed link verifies the address. Audited; the user is
        told by mail once committed."""
        self.set_password(user, password)
        ended = self.sign_out_everywhere(user.id)
        self._audit(audit.PASSWORD_RESET, user, purpose=link.purpose)
        confirm_email_by_link(self.db, user, link, now=self.now(), info=self.info)
        self.notify_password_changed(user, lang, signed_out=True)
        return ended

    def notify_password_changed(self, user: User, lang: str, *, signed_out: bool) -> None:
        email = user.email
        if not email:
            return
        context: dict[str, Any] = dict(
            changed_at=self.now(),
            signed_out=signed_out,
            name=user.display_name or user.registration_number,
            registration_number=user.registration_number,
            forgot_link=f"{self.settings.server.issuer}/password/forgot",
        )
        lang = mail_language(user, lang)
        after_commit(self.db, lambda: self.notifier.send("changed", email, lang, **context))

    # -- links ---------------------------------------------------------------------------------
    def issue_link(
        self, user: User, *, purpose: str = "reset", asked_from: resets.AskedFrom | None = None, mailed: bool = False
    ) -> str:
        """A new single-use reset or invitation link for ``user`` (voids earlier ones); its URL. ``mailed``:
        it goes to the user's address (then completing it verifies that address)."""
        lifetime = (
            self.settings.accounts.invite_link_seconds
            if purpose == "invite"
            else self.settings.accounts.reset_link_seconds
        )
        token = resets.issue(
            self.db,
            user.id,
            now=self.now(),
            lifetime=lifetime,
            purpose=purpose,
            asked_from=asked_from,
            mailed_to=user.email_norm if mailed else None,
        )
        return f"{self.settings.server.issuer}/password/reset?token={token}"

    def reset_link_for_helpdesk(self, user: User) -> str:
        """``idp users reset-link``: a link the helpdesk hands to the user (audited)."""
        link = self.issue_link(user)
        self._audit(audit.PASSWORD_RESET_LINK, user)
        return link

    def mail_reset_link(self, user: User, lang: str) -> None:
        """The helpdesk's reset link sent to the user's own address (the console): no one but the user
        sees it, and completing it verifies that address. The caller checked that the user is active
        and has an address. Audited like ``reset_link_for_helpdesk`` (details.delivery: mail); mailed
        once committed."""
        email = user.email
        if not email:
            raise ValueError("the user has no e-mail address")
        link = self.issue_link(user, mailed=True)
        self._audit(audit.PASSWORD_RESET_LINK, user, delivery="mail")
        context = self.link_mail_context(user, link)
        lang = mail_language(user, lang)
        after_commit(self.db, lambda: self.notifier.send("reset", email, lang, **context))

    def link_mail_context(self, user: User, link: str) -> dict[str, Any]:
        return {
            "name": user.display_name or user.registration_number,
            "registration_number": user.registration_number,
            "link": link,
            "minutes": self.settings.accounts.reset_link_seconds // 60,
            "days": self.settings.accounts.invite_link_seconds // 86400,
        }

    def request_reset(self, login: str, lang: str, asked_from: resets.AskedFrom | None) -> bool:
        """A "forgot password" request: look the account up, issue a link and mail it once committed.
        Runs on the mail thread, after the page answered (so timing tells nothing). Audited either way;
        True when a link was issued."""
        user = user_repo.get_user_by_login(self.db, login)
        email = user.email if user is not None else None
        if user is None or not user.active or not email:
            reason = "unknown_user" if user is None else ("disabled" if not user.active else "no_email")
            self._audit(audit.PASSWORD_RESET_REQUESTED, user, outcome="ignored", reason=reason)
            return False
        link = self.issue_link(user, asked_from=asked_from, mailed=True)
        self._audit(audit.PASSWORD_RESET_REQUESTED, user, outcome="sent")
        context = self.link_mail_context(user, link)
        lang = mail_language(user, lang)
        after_commit(self.db, lambda: self.notifier.send("reset", email, lang, later=False, **context))
        return True

    # -- sessions and status ---------------------------------------------------------------------
    def sign_out_everywhere(self, user_id: int, *, except_session_id: str | None = None) -> list[str]:
        """End the user's sessions (all, or all but one) and revoke the tokens apps hold through them.

        With no exception every grant of the user is revoked (every refresh and access token); when
        one session is kept, only the grants made through the sessions that ended."""
        now = self.now()
        ended = sessions.end_user_sessions(self.db, user_id, now, except_session_id=except_session_id)
        if except_session_id is None:
            token_repo.revoke_user_tokens(self.db, user_id, now)
        else:
            token_repo.revoke_user_tokens(self.db, user_id, now, session_ids=ended)
        return ended

    def sign_out_session(self, user_id: int, session_id: str) -> list[str]:
        """End one of the user's sessions and revoke the tokens of the apps signed in through it."""
        now = self.now()
        ended = sessions.end_user_sessions(self.db, user_id, now, only_session_id=session_id)
        token_repo.revoke_user_tokens(self.db, user_id, now, session_ids=ended)
        return ended

    def end_sessions(
        self, user: User, *, except_session_id: str | None = None, only_session_id: str | None = None
    ) -> list[str]:
        """ "Sign out" from the account page, the helpdesk or an incident: audited as ``session.ended_by_user``."""
        if only_session_id is not None:
            ended = self.sign_out_session(user.id, only_session_id)
        else:
            ended = self.sign_out_everywhere(user.id, except_session_id=except_session_id)
        self._audit(audit.SESSIONS_ENDED, user, sessions=ended)
        return ended

    def revoke_app(self, user: User, client_id: str) -> bool:
        """Withdraw the user's consent from an app and revoke every token it holds for them (audited);
        False if the app held no consent."""
        if not consents.revoke_consent(self.db, user.id, client_id):
            return False
        grants = token_repo.revoke_user_tokens(self.db, user.id, self.now(), client_id=client_id)
        self._audit(audit.CONSENT_REVOKED, user, client_id=client_id, grants_revoked=grants)
        return True

    # -- console roles (idp.domain.staff) ------------------------------------------------------
    def roles(self, user: User) -> list[str]:
        return staff_repo.roles_of(self.db, user.id)

    def grant_role(self, user: User, role: str) -> bool:
        """Give ``role`` (already parsed by ``staff.parse_role``); False if the user held it already."""
        added = staff_repo.add_role(self.db, user.id, role, now=self.now(), granted_by=self.source or "")
        if added:
            self._audit(audit.ROLE_GRANTED, user, role=role)
        return added

    def revoke_role(self, user: User, role: str) -> bool:
        """Take ``role`` away (effective on the holder's next request); False if the user did not hold it."""
        removed = staff_repo.remove_role(self.db, user.id, role)
        if removed:
            self._audit(audit.ROLE_REVOKED, user, role=role)
        return removed

    def disable(self, user: User) -> None:
        """Sign-in refused from now on, every session ended, every token and reset link revoked."""
        user.active = False
        resets.supersede_all(self.db, user.id, self.now())
        self.sign_out_everywhere(user.id)
        self._audit(audit.USER_DISABLED, user)

    def record_import(self, user: User) -> None:
        """``idp users import`` created ``user`` (the row is added by the importer)."""
        self._audit(audit.USER_IMPORTED, user, email_verified=user.email_verified, locale=user.locale)

    def change_email(self, user: User, email: str | None, *, verified: bool = False) -> bool:
        """Give the user another address: unverified unless the institution assigned it (``verified``).
        Audited; raises ``UserExists`` if another user has it; False if nothing changed."""
        if not user_repo.set_email(self.db, user, email, verified=verified):
            if not (verified and user.email and not user.email_verified):
                return False
            user.email_verified = True  # the same address, now confirmed by the institution
            self._audit(audit.USER_EMAIL_VERIFIED, user, via="operator")
            return True
        self._audit(audit.USER_EMAIL_CHANGED, user, email_verified=user.email_verified)
        return True

    def set_locale(self, user: User, locale: str | None) -> bool:
        """An operator sets (or, with None, clears) the user's language, already checked by
        ``check_locale``; audited as ``user.locale_changed``. False if nothing changed."""
        previous = user.locale
        if not user_repo.set_locale(self.db, user, locale):
            return False
        self._audit(audit.USER_LOCALE_CHANGED, user, locale=locale, previous=previous)
        return True

    def enable(self, user: User) -> None:
        """Sign-in allowed again (the password is unchanged; ended sessions stay ended)."""
        user.active = True
        self._audit(audit.USER_ENABLED, user)


def confirm_email_by_link(db: Session, user: User, link: PasswordResetToken, *, now: float, info: RequestInfo) -> bool:
    """A completed e-mailed link (reset, invitation, device approval) verifies the address it was
    sent to while that is still the user's (audited once, when the flag changes); True if it did."""
    if user.email_verified or not resets.proves_address(link, user):
        return False
    user.email_verified = True
    audit.record(db, audit.USER_EMAIL_VERIFIED, now=now, user_id=user.id, **info.audit_fields(), via=link.purpose)
    return True
