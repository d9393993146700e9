// An openid-client v6 service: the client_credentials grant, then introspection and revocation of
// its access token, as the library's README and API reference show them.
//   node client_credentials.mjs '{"issuer": ..., "client_id": ..., "client_secret": ..., "scope": ..., "auth": ...}'
import * as client from 'openid-client'
import { configuration, main } from './lib.mjs'

main(async (spec) => {
  const config = await configuration(spec)
  const tokens = await client.clientCredentialsGrant(config, spec.scope ? { scope: spec.scope } : undefined)
  const introspection = await client.tokenIntrospection(config, tokens.access_token)
  await client.tokenRevocation(config, tokens.access_token)
  const afterRevocation = await client.tokenIntrospection(config, tokens.access_token)
  return {
    client_id: config.clientMetadata().client_id,
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    expires_in: tokens.expires_in ?? null,
    has_refresh_token: 'refresh_token' in tokens,
    has_id_token: 'id_token' in tokens,
    introspection,
    introspection_after_revocation: afterRevocation,
  }
})
