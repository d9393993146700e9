// Shared by the interop scripts: read the test's JSON argument, print JSON lines, and build an
// openid-client Configuration exactly as its documentation shows (discovery, or dynamic
// registration with an initial access token).
import * as readline from 'node:readline'
import * as client from 'openid-client'

export function input() {
  return JSON.parse(process.argv[2])
}

export function emit(value) {
  process.stdout.write(JSON.stringify(value) + '\n')
}

// The test hands the callback URL back on stdin once it has completed the login at the provider.
export async function readLine() {
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) {
    lines.close()
    return line.trim()
  }
  throw new Error('stdin closed before the callback URL arrived')
}

// The test provider listens on plain-http loopback; the library refuses http unless told
// (its documented switch for local development).
const insecure = { execute: [client.allowInsecureRequests] }

export async function privateKey() {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const kid = 'interop-' + client.randomState().slice(0, 8)
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid, alg: 'ES256', use: 'sig' }
  return { key: { key: pair.privateKey, kid }, jwk }
}

// `spec.auth`: "quick_start" | "client_secret_basic" (a client_id and secret), or "private_key_jwt"
// (with `spec.register`: the metadata to register with `spec.initial_access_token`).
export async function configuration(spec) {
  const issuer = new URL(spec.issuer)
  if (spec.register) {
    const metadata = { ...spec.register }
    let auth
    if (spec.auth === 'private_key_jwt') {
      const { key, jwk } = await privateKey()
      metadata.token_endpoint_auth_method = 'private_key_jwt'
      metadata.jwks = { keys: [jwk] }
      auth = client.PrivateKeyJwt(key)
    } else {
      metadata.token_endpoint_auth_method = spec.auth
    }
    const config = await client.dynamicClientRegistration(issuer, metadata, auth, {
      ...insecure,
      initialAccessToken: spec.initial_access_token,
    })
    return config
  }
  if (spec.auth === 'quick_start') {
    // The README's quick start: the secret as the metadata argument; the library then sends it
    // with client_secret_post, its default.
    return client.discovery(issuer, spec.client_id, spec.client_secret, undefined, insecure)
  }
  return client.discovery(issuer, spec.client_id, undefined, client.ClientSecretBasic(spec.client_secret), insecure)
}

// What the test asserts on when the library throws: its error class, OAuth error code and status.
export function describeError(error) {
  return {
    name: error?.name,
    code: error?.code,
    error: error?.error ?? error?.cause?.error,
    error_description: error?.error_description ?? error?.cause?.error_description,
    status: error?.status ?? error?.cause?.status,
    message: String(error?.message ?? error),
  }
}

export async function main(run) {
  try {
    emit({ result: await run(input()) })
  } catch (error) {
    emit({ failure: describeError(error) })
    process.exitCode = 1
  }
}
