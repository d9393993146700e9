"""The OpenAPI 3.1 description of the admin API: the one place it is written down.

``tests/e2e/test_admin_api.py`` checks that its paths and methods are exactly the blueprint's routes,
and a schemathesis run checks the responses against it. The limits stated here (lengths,
enums, ranges) are the ones ``idp.domain.clients.rules`` and the views enforce.
"""

from __future__ import annotations

from typing import Any

from idp.core.languages import LANGUAGES
from idp.domain.clients.rules import (
    ALGS,
    APPLICATION_TYPES,
    AUTH_METHODS,
    GRANT_TYPES,
    MAX_ORIGIN_LENGTH,
    MAX_URI_LENGTH,
    MAX_URIS,
    RESPONSE_TYPES,
)
from idp.domain.factors.policy import ACR_VALUES_SUPPORTED, MFA_ACR
from idp.domain.keys.material import JWS_ALGS

URI = {"type": "string", "minLength": 1, "maxLength": MAX_URI_LENGTH}
URIS = {"type": "array", "items": URI, "maxItems": MAX_URIS}
STRINGS = {"type": "array", "items": {"type": "string"}}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

#: A JSON Schema document: values of every JSON type.
METADATA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 7591 §2 client metadata (unknown members are ignored), plus `trusted`.",
    "properties": {
        "client_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "redirect_uris": URIS,
        "post_logout_redirect_uris": URIS,
        "backchannel_logout_uri": URI,
        "allowed_cors_origins": {
            "type": ["array", "null"],
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_ORIGIN_LENGTH},
            "maxItems": MAX_URIS,
            "description": "Browser origins (scheme://host[:port]) that may call /token, /userinfo, /revoke and "
            "/introspect. null or absent: a public client's redirect URI origins, none for a confidential one. "
            "Responses give the list in force.",
        },
        "grant_types": {"type": "array", "minItems": 1, "items": {"enum": list(GRANT_TYPES)}},
        "response_types": {"type": "array", "items": {"enum": list(RESPONSE_TYPES)}},
        "token_endpoint_auth_method": {"enum": list(AUTH_METHODS)},
        "scope": {
            "type": "string",
            "description": "Space-separated; may be empty only for a client_credentials-only client.",
        },
        "id_token_signed_response_alg": {"enum": list(ALGS)},
        "application_type": {"enum": list(APPLICATION_TYPES)},
        "jwks": {"type": "object", "description": "JWK Set of public RSA/EC keys (private_key_jwt)."},
        "jwks_uri": URI,
        "trusted": {"type": "boolean", "description": "First-party client: no consent page."},
        "require_pkce": {
            "type": "boolean",
            "description": "Authorization requests must carry a PKCE code_challenge (S256). Default for new "
            "clients: IDP_REQUIRE_PKCE_DEFAULT; always true for public clients.",
        },
        "default_acr_values": {
            "type": ["array", "null"],
            "items": {"enum": list(ACR_VALUES_SUPPORTED)},
            "description": f'acr values asked for when an authorization request has no acr_values; ["{MFA_ACR}"]: '
            "every sign-in to this client needs a second factor. null or []: none (responses then omit it). "
            "Omitted in a PATCH: kept.",
        },
        "client_uri": URI,
        "logo_uri": URI,
        "tos_uri": URI,
        "policy_uri": URI,
        "contacts": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 254}},
        "software_id": {"type": "string", "maxLength": 200},
        "software_version": {"type": "string", "maxLength": 200},
    },
}

CLIENT = {
    "type": "object",
    "required": [
        "client_id",
        "client_name",
        "redirect_uris",
        "post_logout_redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
        "scope",
        "id_token_signed_response_alg",
        "application_type",
        "client_id_issued_at",
        "active",
        "trusted",
        "team",
        "created_by",
        "created_at",
        "updated_at",
        "managed_by_registration",
        "secrets",
    ],
    "properties": {
        **{k: v for k, v in METADATA["properties"].items() if k != "trusted"},
        "client_id": {"type": "string"},
        "client_id_issued_at": {"type": "integer"},
        "client_secret_expires_at": {"type": "integer"},
        "client_secret": {"type": "string", "description": "Only in the response that created it; shown once."},
        "active": {"type": "boolean"},
        "trusted": {"type": "boolean"},
        "team": {"type": ["string", "null"]},
        "created_by": {"type": "string"},
        "created_at": TIME,
        "updated_at": NULLABLE_TIME,
        "managed_by_registration": {
            "type": "boolean",
            "description": "True when an app team manages it through RFC 7592.",
        },
        "secrets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["state", "issued_at", "expires_at"],
                "properties": {
                    "state": {"enum": ["current", "previous"]},
                    "issued_at": NULLABLE_TIME,
                    "expires_at": NULLABLE_TIME,
                },
            },
        },
    },
}

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details; `field` names the offending input.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
}

LOCALE = {
    "enum": [*LANGUAGES, None],
    "description": "The user's language (BCP 47): their pages, their mail and the `locale` claim. null: not "
    "chosen yet, the pages follow the browser. Set by the user's language choice on the sign-in page.",
}
USER = {
    "type": "object",
    "required": [
        "sub",
        "registration_number",
        "email",
        "email_verified",
        "name",
        "role",
        "active",
        "locale",
        "created_at",
    ],
    "properties": {
        "sub": {"type": "string"},
        "registration_number": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "email_verified": {"type": "boolean", "description": "The address is known to be the user's."},
        "name": {"type": "string"},
        "role": {"type": "string"},
        "active": {"type": "boolean"},
        "locale": LOCALE,
        "created_at": TIME,
    },
}
USER_CHANGES = {
    "type": "object",
    "description": "The members to change; only `locale` can be changed through the API (audited as "
    "user.locale_changed). Any other member is a 400 `read_only` problem.",
    "additionalProperties": False,
    "properties": {"locale": LOCALE},
}

FACTOR = {
    "type": "object",
    "description": "A second factor as operators see it: never its secret or key.",
    "required": ["id", "kind", "name", "created_at", "last_used_at"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["totp", "passkey"]},
        "name": {"type": "string"},
        "created_at": TIME,
        "last_used_at": NULLABLE_TIME,
        "backup_eligible": {"type": "boolean", "description": "Passkeys: may be synced to other devices."},
        "backup_state": {"type": "boolean", "description": "Passkeys: is synced."},
        "aaguid": {"type": "string", "description": "Passkeys: the authenticator model."},
    },
}
COUNT = {"type": "integer", "minimum": 0}
MFA_ROLE = {
    "type": "object",
    "description": "Enabled users of a role: `enrolled` have a second factor; `in_grace` may still sign in "
    "without one; `forced` must set one up at the next sign-in (grace over, or reset by the help desk); "
    "`not_required` are not asked. The four add up to `users`.",
    "required": ["role", "required", "users", "enrolled", "in_grace", "forced", "not_required"],
    "properties": {
        "role": {"type": "string"},
        "required": {"type": "boolean", "description": "The role is in IDP_MFA_REQUIRED_ROLES."},
        "users": COUNT,
        "enrolled": COUNT,
        "in_grace": COUNT,
        "forced": COUNT,
        "not_required": COUNT,
    },
}
MFA_POLICY = {
    "type": "object",
    "required": ["required_roles", "grace_days", "grace_signins", "roles"],
    "properties": {
        "required_roles": {"type": "array", "items": {"type": "string"}, "description": "IDP_MFA_REQUIRED_ROLES."},
        "grace_days": {"type": "integer", "description": "IDP_MFA_GRACE_DAYS."},
        "grace_signins": {"type": "integer", "description": "IDP_MFA_GRACE_SIGNINS."},
        "roles": {"type": "array", "items": MFA_ROLE},
    },
}

EVENT = {
    "type": "object",
    "required": ["id", "occurred_at", "type", "user_id", "client_id", "ip", "user_agent", "request_id", "details"],
    "properties": {
        "id": {"type": "integer"},
        "occurred_at": TIME,
        "type": {"type": "string"},
        "user_id": {"type": ["integer", "null"]},
        "client_id": {"type": ["string", "null"]},
        "ip": {"type": "string"},
        "user_agent": {"type": "string"},
        "request_id": {"type": "string"},
        "details": {"type": "object"},
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response = {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}
    if headers:
        response["headers"] = headers
    return response


CHALLENGE = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "RFC 6750 challenge."}}
AUTH_ERRORS = {
    "401": _problem("No valid bearer token.", CHALLENGE),
    "403": _problem(
        "`insufficient_scope`: the token lacks the idp:admin or idp:console scope, or a console token its "
        "second factor; `forbidden`: the person's console roles do not include this action.",
        CHALLENGE,
    ),
}
CLIENT_ID = {"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}}
NOT_FOUND = {"404": _problem("No such client.")}
#: A registration token as listed (``describe_registration_token``).
REGISTRATION_TOKEN = {
    "type": "object",
    "required": ["id", "team", "created_at", "expires_at", "max_clients", "clients_registered", "created_by"],
    "properties": {
        "id": {"type": "integer"},
        "team": {"type": "string"},
        "created_at": TIME,
        "expires_at": TIME,
        "max_clients": {"type": ["integer", "null"]},
        "clients_registered": {"type": "integer"},
        "created_by": {"type": "string"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
SUB = {"name": "sub", "in": "path", "required": True, "schema": {"type": "string"}}
BODY_ERRORS = {
    "400": _problem("Invalid input; `field` names it."),
    "413": _problem("The body is too large."),
    "415": _problem("The body is not JSON."),
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _op(op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": op_id, "summary": summary, "responses": {**responses, **AUTH_ERRORS}, **extra}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _client_action(op_id: str, summary: str) -> dict[str, Any]:
    return {
        "post": _op(op_id, summary, {"200": _json(_ref("Client"), "The client."), **NOT_FOUND}, parameters=[CLIENT_ID])
    }


#: The filters of ``/audit`` and ``/audit/export``.
AUDIT_FILTERS = [
    _query("type", {"type": "string", "maxLength": 64}, "Event type, e.g. client.registered."),
    _query("client_id", {"type": "string", "maxLength": 64}, "Only events about this client."),
    _query("user", {"type": "string"}, "Only events about this user (subject identifier)."),
    _query("ip", {"type": "string", "maxLength": 45}, "Only events from this IPv4 or IPv6 address."),
    _query("since", {"type": "number", "minimum": 0, "exclusiveMaximum": 1e11}, "POSIX seconds, inclusive."),
    _query("until", {"type": "number", "minimum": 0, "exclusiveMaximum": 1e11}, "POSIX seconds, exclusive."),
]

PATHS = {
    "/admin/api/openapi.json": {
        "get": {
            "operationId": "getOpenAPI",
            "summary": "This document.",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")},
        },
    },
    "/admin/api/clients": {
        "get": _op(
            "listClients",
            "All clients.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["clients"],
                        "properties": {"clients": {"type": "array", "items": _ref("Client")}},
                    },
                    "The clients.",
                )
            },
        ),
        "post": _op(
            "createClient",
            "Register a client (same rules as /register, plus `trusted`).",
            {"201": _json(_ref("Client"), "Created; `client_secret` is shown only here."), **BODY_ERRORS},
            requestBody=_body({**_ref("ClientMetadata")}),
        ),
    },
    "/admin/api/clients/{client_id}": {
        "get": _op(
            "getClient",
            "One client, with its secrets' state.",
            {"200": _json(_ref("Client"), "The client."), **NOT_FOUND},
            parameters=[CLIENT_ID],
        ),
        "patch": _op(
            "updateClient",
            "Change the given members; others keep their values (jwks and jwks_uri replace each other).",
            {"200": _json(_ref("Client"), "The updated client."), **NOT_FOUND, **BODY_ERRORS},
            parameters=[CLIENT_ID],
            requestBody=_body(_ref("ClientMetadata")),
        ),
        "delete": _op(
            "deleteClient",
            "Delete the client and revoke every token it holds.",
            {"204": {"description": "Deleted."}, **NOT_FOUND},
            parameters=[CLIENT_ID],
        ),
    },
    "/admin/api/clients/{client_id}/disable": _client_action(
        "disableClient", "Disable: the client cannot authenticate and its tokens are refused."
    ),
    "/admin/api/clients/{client_id}/enable": _client_action("enableClient", "Enable a disabled client."),
    "/admin/api/clients/{client_id}/rotate-secret": {
        "post": _op(
            "rotateClientSecret",
            "New secret; the old one works for `grace_seconds` (default 86400).",
            {
                "200": _json(_ref("Client"), "The client with its new `client_secret` (shown once)."),
                **NOT_FOUND,
                **BODY_ERRORS,
                "409": _problem("The client does not use a secret."),
            },
            parameters=[CLIENT_ID],
            requestBody=_body(
                {
                    "type": "object",
                    "properties": {"grace_seconds": {"type": "integer", "minimum": 0, "maximum": 30 * 86400}},
                },
                required=False,
            ),
        ),
    },
    "/admin/api/registration-tokens": {
        "post": _op(
            "issueRegistrationToken",
            "An RFC 7591 initial access token for an app team (shown once).",
            {
                "201": _json(
                    {
                        "type": "object",
                        "required": ["token", "team", "expires_at", "max_clients"],
                        "properties": {
                            "token": {"type": "string"},
                            "team": {"type": "string"},
                            "expires_at": TIME,
                            "max_clients": {"type": ["integer", "null"]},
                        },
                    },
                    "The token.",
                ),
                **BODY_ERRORS,
            },
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["team"],
                    "properties": {
                        "team": {"type": "string", "minLength": 1, "maxLength": 200},
                        "expires_in": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": 10**8,
                            "description": "Seconds; default 30 days.",
                        },
                        "max_clients": {"type": ["integer", "null"], "minimum": 1, "maximum": 10**8},
                    },
                }
            ),
        ),
        "get": _op(
            "listRegistrationTokens",
            "The registration tokens that still work, newest first (never the token: only its hash is kept).",
            {
                "200": _json(
                    {"type": "object", "properties": {"tokens": {"type": "array", "items": REGISTRATION_TOKEN}}},
                    "The tokens.",
                )
            },
        ),
    },
    "/admin/api/registration-tokens/{token_id}/revoke": {
        "post": _op(
            "revokeRegistrationToken",
            "Stop a registration token from registering more clients (the clients it registered stay).",
            {"200": _json(REGISTRATION_TOKEN, "The token, revoked."), "404": _problem("No such token.")},
            parameters=[
                {"name": "token_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
            ],
        ),
    },
    "/admin/api/users": {
        "get": _op(
            "listUsers",
            "Users in id order; page with `after_id`.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["users", "next_after_id"],
                        "properties": {
                            "users": {"type": "array", "items": _ref("User")},
                            "next_after_id": {"type": ["integer", "null"]},
                        },
                    },
                    "A page of users.",
                ),
                "400": _problem("Invalid query parameter."),
            },
            parameters=[
                _query("q", {"type": "string", "maxLength": 254}, "Prefix of the registration number or e-mail."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)."),
                _query("after_id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "Cursor."),
            ],
        ),
    },
    "/admin/api/users/{sub}": {
        "get": _op(
            "getUser",
            "One user by subject identifier.",
            {"200": _json(_ref("User"), "The user."), "404": _problem("No such user.")},
            parameters=[SUB],
        ),
        "patch": _op(
            "updateUser",
            "Change the given members: `locale` (a language, or null to follow the browser).",
            {"200": _json(_ref("User"), "The updated user."), "404": _problem("No such user."), **BODY_ERRORS},
            parameters=[SUB],
            requestBody=_body(_ref("UserChanges")),
        ),
    },
    "/admin/api/users/{sub}/factors": {
        "get": _op(
            "listUserFactors",
            "The user's second factors (never a secret or key) and how many unused recovery codes remain.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["factors", "recovery_codes_left"],
                        "properties": {
                            "factors": {"type": "array", "items": _ref("Factor")},
                            "recovery_codes_left": COUNT,
                        },
                    },
                    "The factors.",
                ),
                "404": _problem("No such user."),
            },
            parameters=[SUB],
        ),
    },
    "/admin/api/users/{sub}/reset-mfa": {
        "post": _op(
            "resetUserMfa",
            "The help desk's reset: every second factor and recovery code is removed, the next sign-in asks "
            "for a new one before anything else (no grace), the user is told by e-mail. Audited as mfa.reset "
            "with the reason.",
            {
                "200": _json(
                    {"type": "object", "required": ["factors_removed"], "properties": {"factors_removed": COUNT}},
                    "Done.",
                ),
                "404": _problem("No such user."),
                **BODY_ERRORS,
                "400": _problem("`reason_required`: no reason given; `invalid_parameter`: the reason is too long."),
            },
            parameters=[SUB],
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["reason"],
                    "properties": {
                        "reason": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 500,
                            "description": "Why (e.g. a ticket number); kept in the audit trail and told to the user.",
                        }
                    },
                }
            ),
        ),
    },
    "/admin/api/mfa-policy": {
        "get": _op(
            "getMfaPolicy",
            "Who must sign in with a second factor: the settings, and per role how many enabled users are "
            "enrolled, in grace, forced to enrol or not asked.",
            {"200": _json(_ref("MfaPolicy"), "The policy and counts.")},
        ),
    },
    "/admin/api/audit": {
        "get": _op(
            "listAuditEvents",
            "Audit events, newest first; page with `before_id`.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["events"],
                        "properties": {"events": {"type": "array", "items": _ref("AuditEvent")}},
                    },
                    "Events.",
                ),
                "400": _problem("Invalid query parameter."),
            },
            parameters=[
                *AUDIT_FILTERS,
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 100)."),
                _query("before_id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "Cursor."),
            ],
        ),
    },
}


# -- People (issue 20): who calls, account actions, console roles, client usage, audit export ------------

ROLE = {
    "type": "string",
    "pattern": r"^(idp:admin|idp:security|team:[A-Za-z0-9][A-Za-z0-9 ._-]{0,99})$",
    "description": "A console role: idp:admin (identity team), idp:security (security staff) or team:NAME "
    "(a member of the app team NAME: its clients only).",
}
ROLES = {
    "type": "object",
    "required": ["roles"],
    "properties": {"roles": {"type": "array", "items": ROLE, "description": "Sorted."}},
}
NO_USER = {"404": _problem("No such user.")}


def _user_action(
    op_id: str, summary: str, result: dict[str, Any], description: str, **responses: Any
) -> dict[str, Any]:
    return {"post": _op(op_id, summary, {"200": _json(result, description), **NO_USER, **responses}, parameters=[SUB])}


PEOPLE_PATHS = {
    "/admin/api/me": {
        "get": _op(
            "getMe",
            "Who the token speaks for and its console roles (any role may ask).",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["actor", "sub", "name", "roles", "teams"],
                        "properties": {
                            "actor": {
                                "type": "string",
                                "description": "As the audit trail names the caller: user:<sub> or admin:<client_id>.",
                            },
                            "sub": {"type": ["string", "null"], "description": "null for an automation's token."},
                            "name": {"type": "string", "description": "The person's, or the admin client's, name."},
                            "roles": {"type": "array", "items": ROLE},
                            "teams": {"type": "array", "items": {"type": "string"}, "description": "From team:NAME."},
                        },
                    },
                    "The caller.",
                )
            },
        ),
    },
    "/admin/api/users/{sub}/disable": _user_action(
        "disableUser",
        "Disable: sign-in refused, every session ended (relying parties told by back-channel logout), every "
        "token and reset link revoked. Audited as user.disabled; a disabled user is left as it is.",
        _ref("User"),
        "The user.",
        **{"409": _problem("`own_account`: a person cannot disable their own account.")},
    ),
    "/admin/api/users/{sub}/enable": _user_action(
        "enableUser",
        "Enable again (the password is unchanged; ended sessions stay ended). Audited as user.enabled.",
        _ref("User"),
        "The user.",
    ),
    "/admin/api/users/{sub}/sign-out": _user_action(
        "signOutUser",
        "Incident response: every session of the user ends and every token is revoked; relying parties with a "
        "back-channel logout URI are told. Audited as session.ended_by_user.",
        {"type": "object", "required": ["sessions_ended"], "properties": {"sessions_ended": COUNT}},
        "How many sessions ended.",
    ),
    "/admin/api/users/{sub}/reset-link": {
        "post": _op(
            "sendUserResetLink",
            "Mail the user a one-time password-reset link at their own address (never returned here); earlier "
            "links stop working. Audited as password.reset_link_issued (details.delivery: mail).",
            {
                "202": _json(
                    {"type": "object", "required": ["sent"], "properties": {"sent": {"const": True}}},
                    "The mail is on its way.",
                ),
                **NO_USER,
                "409": _problem("`no_email`: the user has no address; `user_disabled`: enable the user first."),
            },
            parameters=[SUB],
        ),
    },
    "/admin/api/users/{sub}/roles": {
        "get": _op(
            "listUserRoles",
            "The user's console roles.",
            {"200": _json(ROLES, "The roles."), **NO_USER},
            parameters=[SUB],
        ),
        "post": _op(
            "grantUserRole",
            "Give a console role; it applies at the holder's next request. Audited as user.role_granted.",
            {
                "201": _json(ROLES, "Given; the user's roles now."),
                "200": _json(ROLES, "The user held it already."),
                **NO_USER,
                **BODY_ERRORS,
                "409": _problem("`user_disabled`: enable the user first."),
            },
            parameters=[SUB],
            requestBody=_body({"type": "object", "required": ["role"], "properties": {"role": ROLE}}),
        ),
    },
    "/admin/api/users/{sub}/roles/{role}": {
        "delete": _op(
            "revokeUserRole",
            "Take a console role away, effective at the holder's next request. Audited as user.role_revoked.",
            {
                "200": _json(ROLES, "The user's roles now."),
                "400": _problem("Not a role; `field` is role."),
                "404": _problem("`user_not_found`, or `role_not_held`: the user does not hold the role."),
                "409": _problem("`own_admin_role`: a person cannot take idp:admin from themself."),
            },
            parameters=[SUB, {"name": "role", "in": "path", "required": True, "schema": ROLE}],
        ),
    },
    "/admin/api/clients/{client_id}/usage": {
        "get": _op(
            "getClientUsage",
            "How the client is used: when it last got a token for a user, how many live sessions it is signed "
            "in under, and its error events of the last 24 hours by type.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["last_token_at", "active_sessions", "errors_24h"],
                        "properties": {
                            "last_token_at": {
                                **NULLABLE_TIME,
                                "description": "A code exchanged or a refresh token issued; null if never "
                                "(client_credentials tokens leave no record).",
                            },
                            "active_sessions": {
                                **COUNT,
                                "description": "Live provider sessions under which it holds a grant.",
                            },
                            "errors_24h": {
                                "type": "object",
                                "additionalProperties": COUNT,
                                "description": "Audit event type (login.failure, factor.failed, token.code_replay, "
                                "token.code_wrong_client, token.refresh_reuse, token.refresh_reuse_in_grace, "
                                "logout.backchannel_failed) -> count; types that did not occur are absent.",
                            },
                        },
                    },
                    "The usage.",
                ),
                **NOT_FOUND,
            },
            parameters=[CLIENT_ID],
        ),
    },
    "/admin/api/audit/export": {
        "get": _op(
            "exportAuditEvents",
            "The events /audit filters as NDJSON (one event object a line, as in /audit), newest (highest id) "
            "first, at most 10,000; `X-Next-Before-Id` says where the next export starts when more match.",
            {
                "200": {
                    "description": "Events, one JSON object a line.",
                    "headers": {
                        "X-Next-Before-Id": {
                            "schema": {"type": "string"},
                            "description": "Present when more events match: the before_id of the next export.",
                        }
                    },
                    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                },
                "400": _problem("Invalid query parameter."),
            },
            parameters=[
                *AUDIT_FILTERS,
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 10_000}, "At most (default 10000)."),
                _query("before_id", {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}, "Cursor."),
            ],
        ),
    },
}
PATHS.update(PEOPLE_PATHS)


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SPOM Login admin API",
            "version": "1",
            "description": "For the identity team, security staff and app teams. Authenticate with a "
            "client_credentials access token carrying the idp:admin scope (an automation: every action), or "
            "with a person's console token (idp:console scope, signed in with a second factor), whose console "
            "roles (idp:admin, idp:security, team:NAME) decide which actions they may call; an app team sees "
            "only its own clients (see docs/clients.md).",
        },
        "paths": PATHS,
        "components": {
            "schemas": {
                "ClientMetadata": METADATA,
                "Client": CLIENT,
                "Problem": PROBLEM,
                "User": USER,
                "UserChanges": USER_CHANGES,
                "AuditEvent": EVENT,
                "Factor": FACTOR,
                "MfaPolicy": MFA_POLICY,
            },
            "securitySchemes": {
                "adminToken": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/token",
                            "scopes": {
                                "idp:admin": "Administer clients, read users and set their language, list and "
                                "reset their second factors, read audit."
                            },
                        }
                    },
                },
                "consoleToken": {
                    "type": "oauth2",
                    "description": "A person's access token from the console (the client registered with the "
                    "idp:console scope), signed in with a second factor (acr urn:spom:acr:mfa).",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": "/authorize",
                            "tokenUrl": "/token",
                            "scopes": {"idp:console": "Act as the signed-in person, within their console roles."},
                        }
                    },
                },
            },
        },
        "security": [{"adminToken": ["idp:admin"]}, {"consoleToken": ["idp:console"]}],
    }


# -- security staff (issue 20, the console's "Security" pages; routes in idp/http/admin/security.py) --------

NULLABLE_STRING = {"type": ["string", "null"]}
SIGNING_KEY = {
    "type": "object",
    "description": "A signing key as `idp keys list` shows it: never private material.",
    "required": ["kid", "alg", "state", "created", "activated", "retires_at", "removes_at", "revoked"],
    "properties": {
        "kid": {"type": "string"},
        "alg": {"enum": ["RS256", "ES256", "Ed25519"], "description": "The key family."},
        "state": {
            "enum": ["next", "current", "retired", "revoked"],
            "description": "next: published, signs after the next rotation; current: signs; retired: published "
            "until its tokens expire; revoked: withdrawn (kept until `removes_at`, never published).",
        },
        "created": TIME,
        "activated": NULLABLE_TIME,
        "retires_at": {
            **NULLABLE_TIME,
            "description": "Current key: when the schedule (IDP_KEY_ROTATION_DAYS) rotates it; retired: when it was.",
        },
        "removes_at": {**NULLABLE_TIME, "description": "When a retired or revoked key is deleted."},
        "revoked": NULLABLE_TIME,
    },
}
THROTTLE_QUERY = [
    _query(
        "user",
        {"type": "string", "minLength": 1, "maxLength": 254},
        "Registration number or e-mail (unknown names are throttled too); give user and/or ip.",
    ),
    _query("ip", {"type": "string", "maxLength": 45}, "Client IP address (IPv6 counts per /64)."),
]
THROTTLE_ERRORS = {
    "400": _problem("Neither user nor ip, or an invalid one; `field` names it."),
    "503": _problem("The throttle's counters (Redis) cannot be reached."),
}
COUNTERS = {
    "type": "object",
    "required": ["remaining", "limit", "retry_after"],
    "properties": {"remaining": COUNT, "limit": COUNT, "retry_after": COUNT},
}
SECURITY_PATHS: dict[str, Any] = {
    "/admin/api/keys": {
        "get": _op(
            "listSigningKeys",
            "Every stored signing key (security staff), oldest first per family, and how long a next key is "
            "published before it may sign.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["keys", "publication_seconds"],
                        "properties": {
                            "keys": {"type": "array", "items": SIGNING_KEY},
                            "publication_seconds": {"type": "integer", "description": "IDP_KEY_PUBLICATION_SECONDS."},
                        },
                    },
                    "The keys.",
                )
            },
        ),
    },
    "/admin/api/keys/rotate": {
        "post": _op(
            "rotateSigningKeys",
            "Promote next to current, retire the old current, publish a new next key: for `alg` or every family "
            "in use, in one transaction (as `idp keys rotate`). Refused while a next key has been published for "
            "less than IDP_KEY_PUBLICATION_SECONDS (relying parties may not have it), unless `force`. Audited as "
            "key.rotated with `source`.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["rotated"],
                        "properties": {
                            "rotated": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["alg", "current"],
                                    "properties": {
                                        "alg": {"type": "string"},
                                        "current": {"type": "string", "description": "The kid that signs now."},
                                    },
                                },
                            }
                        },
                    },
                    "Rotated.",
                ),
                **BODY_ERRORS,
                "409": _problem(
                    "`publication_period`: too early (the detail says from when, and why); `alg_not_in_use`, "
                    "`no_keys`, `key_lifecycle`: nothing to rotate. Nothing was changed."
                ),
            },
            requestBody=_body(
                {
                    "type": "object",
                    "properties": {
                        "alg": {"enum": list(JWS_ALGS), "description": "Only this family (EdDSA means Ed25519)."},
                        "force": {
                            "type": "boolean",
                            "description": "Rotate within the publication period (an emergency).",
                        },
                    },
                },
                required=False,
            ),
        ),
    },
    "/admin/api/keys/{kid}/revoke": {
        "post": _op(
            "revokeSigningKey",
            "Emergency (as `idp keys revoke`): withdraw the key from /jwks.json at once; tokens it signed stop "
            "verifying here. A revoked current key is replaced by the next key, a revoked next key by a new one. "
            "`confirm` must repeat the kid. Audited as key.revoked with the reason and `source`.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["kid", "alg", "previous_state", "sessions_ended"],
                        "properties": {
                            "kid": {"type": "string"},
                            "alg": {"type": "string"},
                            "previous_state": {"enum": ["next", "current", "retired"]},
                            "sessions_ended": COUNT,
                        },
                    },
                    "Revoked.",
                ),
                **BODY_ERRORS,
                "400": _problem(
                    "`confirmation_mismatch` (field confirm), `reason_required` or `invalid_parameter`; "
                    "nothing was revoked."
                ),
                "404": _problem("`key_not_found`: no key with this kid."),
                "409": _problem("`key_revoked`: already revoked."),
            },
            parameters=[{"name": "kid", "in": "path", "required": True, "schema": {"type": "string"}}],
            requestBody=_body(
                {
                    "type": "object",
                    "required": ["reason", "confirm"],
                    "properties": {
                        "reason": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Why (audited)."},
                        "end_sessions": {
                            "type": "boolean",
                            "description": "Also end the sessions of users who got tokens while the key signed.",
                        },
                        "confirm": {"type": "string", "description": "The kid again (typed confirmation)."},
                    },
                }
            ),
        ),
    },
    "/admin/api/anomalies": {
        "get": _op(
            "getSignInAnomalies",
            "From the audit trail: the accounts and addresses the throttle engaged on within the last hour "
            "(throttle.engaged; unknown usernames are not stored: `user` and `login` null), and the failed "
            "sign-ins (login.failure) per hour of the last 24 hours, oldest first, the current hour last.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["throttled", "failures_per_hour"],
                        "properties": {
                            "throttled": {
                                "type": "object",
                                "required": ["since", "accounts", "ips"],
                                "properties": {
                                    "since": TIME,
                                    "accounts": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["user", "login", "at", "events"],
                                            "properties": {
                                                "user": {**NULLABLE_STRING, "description": "Subject identifier."},
                                                "login": {**NULLABLE_STRING, "description": "Registration number."},
                                                "at": {**TIME, "description": "The latest engagement."},
                                                "events": COUNT,
                                            },
                                        },
                                    },
                                    "ips": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["ip", "at", "events"],
                                            "properties": {"ip": {"type": "string"}, "at": TIME, "events": COUNT},
                                        },
                                    },
                                },
                            },
                            "failures_per_hour": {
                                "type": "array",
                                "minItems": 24,
                                "maxItems": 24,
                                "items": {
                                    "type": "object",
                                    "required": ["hour", "count"],
                                    "properties": {
                                        "hour": {**TIME, "description": "Start of the hour."},
                                        "count": COUNT,
                                    },
                                },
                            },
                        },
                    },
                    "The anomalies.",
                )
            },
        ),
    },
    "/admin/api/throttle": {
        "get": _op(
            "getThrottleStatus",
            "What the sign-in throttle holds for an account and/or an IP (as `idp throttle status --json`).",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "account": {
                                "type": "object",
                                "required": ["failures", "retry_after", "known_devices_waiting"],
                                "properties": {
                                    "failures": COUNT,
                                    "retry_after": COUNT,
                                    "known_devices_waiting": COUNT,
                                },
                            },
                            "ip": {
                                "type": "object",
                                "required": ["address", "limits"],
                                "properties": {
                                    "address": {"type": "string"},
                                    "limits": {"type": "object", "additionalProperties": COUNTERS},
                                },
                            },
                        },
                    },
                    "The counters.",
                ),
                **THROTTLE_ERRORS,
            },
            parameters=THROTTLE_QUERY,
        ),
        "delete": _op(
            "clearThrottle",
            "Forget the counters of an account (with its known devices) and/or an IP, so the next attempt is "
            "allowed at once. Audited as throttle.cleared.",
            {
                "200": _json(
                    {"type": "object", "required": ["cleared"], "properties": {"cleared": COUNT}},
                    "How many counters were removed.",
                ),
                **THROTTLE_ERRORS,
            },
            parameters=THROTTLE_QUERY,
        ),
    },
    "/admin/api/settings": {
        "get": _op(
            "getSettings",
            "The settings in force that are safe to show (identity team): issuer, lifetimes, second-factor policy, "
            "rate limits, key policy; storage only by kind. Never a secret, passphrase, URL or SMTP account.",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["issuer", "sessions", "tokens", "mfa", "throttle", "keys", "clients", "storage"],
                        "properties": {
                            "issuer": {"type": "string"},
                            "sessions": {"type": "object"},
                            "tokens": {"type": "object"},
                            "mfa": {"type": "object"},
                            "throttle": {"type": "object"},
                            "keys": {"type": "object"},
                            "clients": {"type": "object"},
                            "storage": {
                                "type": "object",
                                "required": ["database", "store", "audit_retention_days"],
                                "properties": {
                                    "database": {"enum": ["sqlite", "postgresql"]},
                                    "store": {"enum": ["memory", "redis"]},
                                    "audit_retention_days": COUNT,
                                },
                            },
                            "mail": {
                                "type": "object",
                                "properties": {"delivery": {"enum": ["smtp", "outbox"]}},
                            },
                        },
                    },
                    "The safe settings.",
                )
            },
        ),
    },
}
PATHS.update(SECURITY_PATHS)
