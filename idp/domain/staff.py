"""Console roles (issue 20): who may do what in the admin API and the console. Roles are data, one row
per person and role (``staff_roles``), managed by the identity team (``idp users grant-role``, the API).

- ``idp:admin``: the identity team (users, every client, registration tokens, the throttle, settings);
- ``idp:security``: security staff (signing keys, the audit trail, sign-in anomalies);
- ``team:<name>``: a member of an app team: that team's clients only (``clients.team``).

The same names describe an admin API caller whatever it is: a person signed in to the console, whose
roles are read on every request (a revoked role ends at once), or an automation's client_credentials
client with the ``idp:admin`` scope, which has the identity team's and security staff's powers."""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTITY = "idp:admin"
SECURITY = "idp:security"
TEAM_PREFIX = "team:"
#: An app team's name as initial access tokens give it (``clients.team``): letters, digits, space and ._-
TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
ROLE_HELP = f"{IDENTITY} (identity team), {SECURITY} (security staff) or {TEAM_PREFIX}NAME (an app team)"


class RoleError(ValueError):
    """Not a console role (the message says what is)."""


def parse_role(text: object) -> str:
    """A role as stored: ``idp:admin``, ``idp:security`` or ``team:<name>``; else ``RoleError``."""
    if not isinstance(text, str):
        raise RoleError(f"a role is {ROLE_HELP}")
    value = text.strip()
    if value in (IDENTITY, SECURITY):
        return value
    if value.startswith(TEAM_PREFIX) and TEAM_NAME.match(value[len(TEAM_PREFIX) :]):
        return value
    raise RoleError(f"a role is {ROLE_HELP}; a team name is 1 to 100 letters, digits, spaces or ._-")


def team_role(team: str) -> str:
    return TEAM_PREFIX + team


@dataclass(frozen=True)
class Caller:
    """Who calls the admin API: ``actor`` as the audit trail names it (``user:<sub>`` or
    ``admin:<client_id>``), the roles it holds now, and the user row's id for a person."""

    actor: str
    roles: frozenset[str]
    user_id: int | None = None

    @property
    def identity(self) -> bool:
        return IDENTITY in self.roles

    @property
    def security(self) -> bool:
        return SECURITY in self.roles

    @property
    def teams(self) -> frozenset[str]:
        return frozenset(r[len(TEAM_PREFIX) :] for r in self.roles if r.startswith(TEAM_PREFIX))

    def holds_any(self, *roles: str) -> bool:
        """``TEAM_PREFIX`` in ``roles`` stands for membership of any team."""
        return any(r in self.roles for r in roles) or (TEAM_PREFIX in roles and bool(self.teams))

    def sees_client(self, team: str | None) -> bool:
        """The identity team sees every client; an app team only those of its teams."""
        return self.identity or (team is not None and team in self.teams)
