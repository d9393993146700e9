"""Bulk onboarding from CSV (``idp users import``): validate each row on its own, create the
good ones one transaction each, report the bad ones by line, and be idempotent on re-run."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy.orm import Session

from idp.core.errors import UserExists
from idp.core.ports import Database
from idp.domain.accounts import Accounts, UnsupportedLanguage, mail_language, parse_locale
from idp.storage.sql import users as user_repo

COLUMNS = ("registration_number", "email", "name", "role")
#: Optional columns: ``email_verified`` (yes/no, true/false, 1/0; empty = the ``--email-verified`` flag)
#: says whether the institution assigned the row's address; ``locale`` is the user's language
#: (``accounts.check_locale``; empty: not chosen, the pages follow the browser).
OPTIONAL_COLUMNS = ("email_verified", "locale")
_YES, _NO = ("yes", "true", "1"), ("no", "false", "0")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Row:
    line: int
    values: dict[str, str] | None
    error: str | None = None


@dataclass
class Report:
    created: int = 0
    unchanged: int = 0
    invited: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def read_rows(handle: TextIO) -> list[Row]:
    """Parse the file; a broken header is fatal (ValueError), a broken row is only that row's error."""
    reader = csv.reader(handle)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ValueError("the CSV file is empty") from None
    except csv.Error as exc:
        raise ValueError(f"cannot read the CSV header: {exc}") from None
    if sorted(h for h in header if h not in OPTIONAL_COLUMNS) != sorted(COLUMNS) or len(set(header)) != len(header):
        raise ValueError(
            f"the CSV header must be {','.join(COLUMNS)} and optionally {','.join(OPTIONAL_COLUMNS)} "
            f"(got {','.join(header) or 'nothing'})"
        )
    rows: list[Row] = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            rows.append(Row(reader.line_num, None, f"cannot parse this line: {exc}"))
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            rows.append(Row(reader.line_num, None, f"expected {len(header)} fields, found {len(cells)}"))
            continue
        values = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        values["role"] = values["role"].lower()  # "Student" from a spreadsheet is a student
        rows.append(Row(reader.line_num, values))


def validate(values: dict[str, str]) -> str | None:
    reg, email, name, role = (values[c] for c in COLUMNS)
    if not reg or len(reg) > 64:
        return "registration_number must be 1 to 64 characters"
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        return f"e-mail address {email!r} is not valid"
    if len(name) > 200:
        return "name is longer than 200 characters"
    if role not in user_repo.ROLES:
        return f"role must be one of {', '.join(user_repo.ROLES)} (got {role!r})"
    verified = values.get("email_verified", "").lower()
    if verified not in _YES + _NO + ("",):
        return f"email_verified must be yes or no (got {values['email_verified']!r})"
    if verified in _YES and not email:
        return "email_verified needs an e-mail address"
    try:
        parse_locale(values.get("locale", ""))
    except UnsupportedLanguage as exc:
        return f"{exc} (got {values['locale']!r})"
    return None


def email_verified(values: dict[str, str], default: bool) -> bool:
    """The row's ``email_verified`` cell, or ``default`` (``--email-verified``) when absent or empty."""
    cell = values.get("email_verified", "").lower()
    return cell in _YES if cell else default and bool(values["email"])


def import_rows(
    rows: Iterable[Row],
    *,
    database: Database,
    accounts: Callable[[Session], Accounts],
    invite: bool,
    language: str = "en",
    email_verified_default: bool = False,
) -> Report:
    """Import ``rows``, each in a transaction of its own (``database``): a bad row never holds up the
    good ones. ``accounts`` makes the account use cases for a row's transaction.
    ``email_verified_default``: the institution assigned the addresses (rows may say otherwise)."""
    report = Report()
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        error = row.error
        if error is None and row.values is not None:  # a row without values carries its error
            error = validate(row.values)
            if error is None:
                error = _duplicate_in_file(row.line, row.values, seen)
            if error is None:
                verified = email_verified(row.values, email_verified_default)
                error = _import_one(row.values, verified, report, invite, language, database, accounts)
        if error:
            report.errors.append((row.line, error))
    return report


def _duplicate_in_file(line: int, values: dict[str, str], seen: dict[tuple[str, str], int]) -> str | None:
    keys = [("registration number", user_repo.normalize_registration_number(values["registration_number"]))]
    email = user_repo.normalize_email(values["email"]) if values["email"] else None
    if email is not None:
        keys.append(("e-mail", email))
    for kind, key in keys:
        if (kind, key) in seen:
            return f"duplicate {kind}: already on line {seen[(kind, key)]}"
    for kind, key in keys:
        seen[(kind, key)] = line
    return None


def _import_one(
    values: dict[str, str],
    verified: bool,
    report: Report,
    invite: bool,
    language: str,
    database: Database,
    accounts_for: Callable[[Session], Accounts],
) -> str | None:
    """Create one user in its own transaction; an identical existing user is "unchanged"."""
    with database.transaction() as db:
        accounts = accounts_for(db)
        existing = user_repo.get_user_by_login(db, values["registration_number"])
        if existing is not None:
            if user_repo.normalize_email(values["email"]) == existing.email_norm:
                report.unchanged += 1
                return None
            return f"registration number {values['registration_number']} already exists with another e-mail"
        try:
            user = user_repo.create_user(
                db,
                registration_number=values["registration_number"],
                email=values["email"] or None,
                name=values["name"],
                role=values["role"],
                password_hash=None,
                now=accounts.now(),
                email_verified=verified,
            )
        except UserExists:
            return f"e-mail address {values['email']} already belongs to another user"
        user_repo.set_locale(db, user, parse_locale(values.get("locale", "")))
        accounts.record_import(user)
        email = user.email
        link = accounts.issue_link(user, purpose="invite", mailed=True) if invite and email else None
        context = accounts.link_mail_context(user, link) if link else None
        language = mail_language(user, language)
    report.created += 1
    if context is None or not email:
        return None if not invite or email else "created, but not invited: the row has no e-mail address"
    # Sent once the user is committed, and waited for: the report says whether it was delivered.
    if not accounts.notifier.send("invite", email, language, later=False, **context):
        return "created, but the invitation could not be delivered (kept in the outbox's failed folder)"
    report.invited += 1
    return None
