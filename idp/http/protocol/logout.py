"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) through Authlib's EndSessionEndpoint."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError

from idp import services
from idp.domain.keys.material import JWS_ALGS
from idp.storage.sql import audit
from idp.storage.sql.database import get_session
from idp.http.web import session as web_session


class EndSessionEndpoint(_EndSessionEndpoint):
    def get_server_jwks(self):
        return services.keystore().verification_keys()

    def get_algorithms(self):
        return list(JWS_ALGS)

    def resolve_client_from_id_token_claims(self, id_token_claims):
        # Our ID tokens carry ``aud`` as a one-element list, which Authlib's default treats as
        # ambiguous (no client, hence never a post-logout redirect); ``azp`` settles a longer list.
        aud = id_token_claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        client_id = auds[0] if len(auds) == 1 else id_token_claims.get("azp")
        return self.server.query_client(client_id) if isinstance(client_id, str) and client_id in auds else None

    def validate_request(self, request):
        hint = request.payload.data.get("id_token_hint")
        if hint:
            # Decoded here first: Authlib passes joserfc's message on as the description, and
            # that quotes the token's header (a 500 when its ``alg`` held '"').
            try:
                jwt.decode(hint, self.get_server_jwks(), algorithms=self.get_algorithms())
            except (JoseError, ValueError):
                raise InvalidRequestError("Invalid 'id_token_hint'.") from None
        validated = super().validate_request(request)
        claims = validated.id_token_claims
        if claims is not None and claims.get("iss") != services.settings().issuer:
            raise InvalidRequestError("The 'id_token_hint' was not issued by this provider.")
        return validated

    def end_session(self, end_session_request):
        ended = web_session.sign_out()
        db = get_session()
        if ended is not None:
            client = end_session_request.client
            audit.record(db, audit.LOGOUT, now=services.now(), user_id=ended.user.id,
                         client_id=client.get_client_id() if client else None, **services.request_audit_fields())
        db.commit()


def register_end_session(server) -> None:
    server.register_endpoint(EndSessionEndpoint)
