"""The one rule for OAuth error descriptions (idp/http/protocol/errors.py): every description sent is our
own constant text. Checked on the sources (each literal description in idp/ is registered, each
client-metadata message is constant), on the registry (only characters RFC 6749 allows), and on
``errors.description`` (a description Authlib builds from the request is never sent); the app's
backstop for such a description is tests/http/test_error_backstop.py."""

from __future__ import annotations

import ast

import pytest
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError

import idp.domain.clients.rules
from idp.http.protocol import error_responses, errors
from tests.support.constants import ROOT

IDP = ROOT / "idp"


def _oauth_error_names() -> set[str]:
    import authlib.oauth2.rfc6749.errors as rfc6749
    import authlib.oauth2.rfc6750.errors as rfc6750
    import authlib.oauth2.rfc7591.errors as rfc7591
    import authlib.oidc.core.errors as oidc

    import idp.http.protocol.registration
    import idp.http.protocol.server

    modules = (
        rfc6749,
        rfc6750,
        rfc7591,
        oidc,
        errors,
        error_responses,
        idp.http.protocol.server,
        idp.http.protocol.registration,
    )
    return {
        name
        for module in modules
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, OAuth2Error)
    } | {"ClaimsRequestError"}


def _calls(names: set[str]):
    for path in sorted(IDP.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in names:
                    yield path.relative_to(IDP.parent), node


def test_every_literal_description_in_the_sources_is_registered():
    """Otherwise the rule would quietly send the generic text instead of the sentence written."""
    missing = []
    for path, call in _calls(_oauth_error_names()):
        given = call.args[:1] + [k.value for k in call.keywords if k.arg == "description"]
        for arg in given:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value not in errors.SPECIFIC:
                missing.append(f"{path}:{call.lineno}: {arg.value!r}")
    assert not missing, "add these to SPECIFIC in idp/http/protocol/errors.py:\n" + "\n".join(missing)


def test_client_metadata_messages_never_interpolate_the_metadata():
    """Each ``ClientMetadataError`` message is a literal, or an f-string of module constants only
    (UPPER_CASE names), and evaluates to characters an ``error_description`` may hold."""
    for path, call in _calls({"ClientMetadataError"}):
        message = call.args[1] if len(call.args) > 1 else next(k.value for k in call.keywords if k.arg == "message")
        if _is_table_lookup(message):  # MESSAGES.get(code, DEFAULT): every text of the table is checked
            table = vars(idp.domain.clients.rules)[message.func.value.id]
            texts = [
                *table.values(),
                eval(  # noqa: S307  our own source's constant expression, evaluated as the module would
                    compile(ast.Expression(message.args[1]), str(path), "eval"),
                    vars(idp.domain.clients.rules),
                ),
            ]
        else:
            names = {n.id for n in ast.walk(message) if isinstance(n, ast.Name)}
            assert isinstance(message, (ast.Constant, ast.JoinedStr)) and all(n.isupper() for n in names), (
                f"{path}:{call.lineno}: the message must not quote the metadata: {ast.unparse(message)}"
            )
            texts = [eval(compile(ast.Expression(message), str(path), "eval"), vars(idp.domain.clients.rules))]  # noqa: S307
        for text in texts:
            assert not invalid_error_characters(text), f"{path}:{call.lineno}: {text!r}"


def _is_table_lookup(node) -> bool:
    """``UPPER_CASE_TABLE.get(anything, UPPER_CASE_CONSTANT or "literal")``: the text comes from a table."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id.isupper()
        and len(node.args) == 2
        and (
            isinstance(node.args[1], ast.Constant) or (isinstance(node.args[1], ast.Name) and node.args[1].id.isupper())
        )
    )


def test_every_registered_text_is_allowed_by_rfc_6749():
    """%x20-21 / %x23-5B / %x5D-7E only (RFC 6749 §4.1.2.1): no '"', no '\\', no non-ASCII."""
    texts = set(errors.SPECIFIC) | set(errors.GENERIC.values()) | {errors.FALLBACK}
    texts |= {error_responses.ResponseTypeNotSupported(t).description for t in error_responses.KNOWN_RESPONSE_TYPES}
    texts |= {error_responses.GrantTypeNotSupported(t).description for t in error_responses.KNOWN_GRANT_TYPES}
    assert all(text and not invalid_error_characters(text) for text in texts)


@pytest.mark.parametrize(
    "response_type, named",
    [
        ("id_token", "id_token"),
        ("token id_token", "id_token token"),
        ("id_token code", "code id_token"),
        ("id_token id_token", None),
        ("x", None),
        ("", None),
    ],
)
def test_a_response_type_is_named_only_from_the_known_set(response_type, named):
    text = error_responses.ResponseTypeNotSupported(response_type).description
    assert text == (
        f"response_type '{named}' is not supported; use 'code'."
        if named
        else errors.GENERIC["unsupported_response_type"]
    )


def test_a_description_built_from_the_request_becomes_the_generic_text():
    quoted = InvalidRequestError("Redirect URI https://evil.example/phish is not supported by client.")
    assert errors.description(quoted) == errors.GENERIC["invalid_request"]
    assert errors.description(InvalidClientError()) == errors.GENERIC["invalid_client"]
    kept = InvalidRequestError("This client must use PKCE: send 'code_challenge' with 'code_challenge_method=S256'.")
    assert (
        errors.description(kept)
        == "This client must use PKCE: send 'code_challenge' with 'code_challenge_method=S256'."
    )
