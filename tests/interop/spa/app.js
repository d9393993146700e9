// A single-page app as oidc-client-ts's documentation sets one up: a UserManager with the
// authority (discovery), a public client with the code flow and PKCE (the library's default),
// UserInfo loaded after sign-in, refresh through signinSilent() with the refresh token,
// revokeTokens() and signoutRedirect() with the ID token as hint. settings.json is written by the
// test (the provider's URL and the client_id it registered).
/* global oidc */
window.app = (async () => {
  const settings = await (await fetch('/settings.json')).json()
  const auth = new oidc.UserManager({
    authority: settings.authority,
    client_id: settings.client_id,
    redirect_uri: location.origin + '/callback.html',
    post_logout_redirect_uri: location.origin + '/signed-out.html',
    response_type: 'code',
    scope: 'openid profile email offline_access',
    loadUserInfo: true,
    automaticSilentRenew: false, // the test calls signinSilent() itself rather than waiting for expiry
    userStore: new oidc.WebStorageStateStore({ store: window.sessionStorage }),
  })
  const who = document.getElementById('who')
  const show = (user, state) => {
    who.textContent = user ? JSON.stringify(user.profile) : 'signed out'
    document.body.dataset.state = state
  }
  document.getElementById('sign-in').onclick = () => auth.signinRedirect()
  document.getElementById('sign-out').onclick = () => auth.signoutRedirect()
  try {
    if (location.pathname === '/callback.html') {
      const user = await auth.signinRedirectCallback() // POST /token, then GET /userinfo
      history.replaceState(null, '', '/')
      show(user, 'signed-in')
    } else if (location.pathname === '/signed-out.html') {
      await auth.signoutRedirectCallback()
      show(null, 'signed-out')
    } else {
      const user = await auth.getUser()
      show(user, user ? 'signed-in' : 'anonymous')
    }
  } catch (error) {
    who.textContent = String(error)
    document.body.dataset.state = 'error'
  }
  return auth
})()
