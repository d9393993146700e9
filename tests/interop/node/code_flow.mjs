// An openid-client v6 web app: the authorization code flow with PKCE (and state and nonce), then
// UserInfo, introspection, refresh, revocation and the RP-initiated logout URL, each call as the
// library's README and API reference show it.
//   node code_flow.mjs '{"issuer": ..., "redirect_uri": ..., "post_logout_redirect_uri": ..., "scope": ...,
//                        "client_id"/"client_secret" or "register"/"initial_access_token", "auth": ...}'
// prints {"authorization_url"}, reads the callback URL on stdin, prints {"result"} or {"failure"}.
import * as client from 'openid-client'
import { configuration, describeError, emit, main, readLine } from './lib.mjs'

async function expectFailure(promise) {
  try {
    await promise
    return null
  } catch (error) {
    return describeError(error)
  }
}

main(async (spec) => {
  const config = await configuration(spec)
  const metadata = config.clientMetadata()
  const code_verifier = client.randomPKCECodeVerifier()
  const code_challenge = await client.calculatePKCECodeChallenge(code_verifier)
  const parameters = {
    redirect_uri: spec.redirect_uri,
    scope: spec.scope,
    code_challenge,
    code_challenge_method: 'S256',
  }
  // examples/oidc.ts adds a nonce (and the README a state) only when the server does not
  // advertise PKCE; `spec.state_and_nonce` sends both anyway, as many apps do.
  let state, nonce
  if (spec.state_and_nonce || !config.serverMetadata().supportsPKCE()) {
    parameters.state = state = client.randomState()
    parameters.nonce = nonce = client.randomNonce()
  }
  const authorizationUrl = client.buildAuthorizationUrl(config, parameters)
  emit({ authorization_url: authorizationUrl.href, client_id: metadata.client_id })

  const callback = new URL(await readLine())
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: code_verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  const introspected = await client.tokenIntrospection(config, tokens.access_token)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const idToken = refreshed.id_token ?? tokens.id_token

  // Revoking the refresh token ends its grant: its access tokens too (RFC 7009 §2.1).
  await client.tokenRevocation(config, refreshed.refresh_token)
  const refreshTokenAfterRevocation = await client.tokenIntrospection(config, refreshed.refresh_token)
  const accessTokenAfterRevocation = await client.tokenIntrospection(config, refreshed.access_token)
  const refreshAfterRevocation = await expectFailure(client.refreshTokenGrant(config, refreshed.refresh_token))
  const userinfoAfterRevocation = await expectFailure(client.fetchUserInfo(config, refreshed.access_token, claims.sub))

  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: idToken,
    post_logout_redirect_uri: spec.post_logout_redirect_uri,
  })
  return {
    client_id: metadata.client_id,
    token_endpoint_auth_method: metadata.token_endpoint_auth_method ?? null,
    // what dynamicClientRegistration kept of the registration response (RFC 7592 management)
    registration: {
      access_token: typeof metadata.registration_access_token === 'string',
      client_uri: metadata.registration_client_uri ?? null,
    },
    sent_state_and_nonce: state !== undefined,
    id_token_claims: claims,
    scope: tokens.scope ?? null,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in ?? null,
    userinfo,
    introspection: introspected,
    refreshed: {
      access_token_changed: refreshed.access_token !== tokens.access_token,
      refresh_token_changed: refreshed.refresh_token !== tokens.refresh_token,
      id_token_claims: refreshed.id_token ? refreshed.claims() : null,
    },
    refresh_token_after_revocation: refreshTokenAfterRevocation,
    access_token_after_revocation: accessTokenAfterRevocation,
    refresh_after_revocation: refreshAfterRevocation,
    userinfo_after_revocation: userinfoAfterRevocation,
    end_session_url: endSession.href,
  }
})
