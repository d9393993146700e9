"""OpenID Connect and OAuth 2 protocol surface. All Authlib glue lives in this package."""

from flask import Flask

from idp.core.deps import Deps


def init_app(app: Flask, deps: Deps) -> None:
    from idp.http.protocol import backchannel, interactions
    from idp.http.protocol.logout import register_end_session
    from idp.http.protocol.server import create_server
    from idp.http.protocol.views import bp

    server = create_server(app, deps)
    register_end_session(server)
    app.register_blueprint(bp)
    app.after_request(interactions.apply_cookie)
    backchannel.init_app(app, deps)
