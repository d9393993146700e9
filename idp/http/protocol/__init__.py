"""OpenID Connect and OAuth 2 protocol surface. All Authlib glue lives in this package."""

from idp.http.protocol.server import create_server


def init_app(app) -> None:
    from idp.http.protocol import backchannel, interactions
    from idp.http.protocol.logout import register_end_session
    from idp.http.protocol.views import bp

    server = create_server(app)
    register_end_session(server)
    app.register_blueprint(bp)
    app.after_request(interactions.apply_cookie)
    backchannel.init_app(app)
