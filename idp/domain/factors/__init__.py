"""Second factors (issue 19): authenticator apps (TOTP), passkeys (WebAuthn), recovery codes, and
the policy that says who must use one (``policy``). ``service.Factors`` holds the use cases."""
