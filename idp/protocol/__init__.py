"""OpenID Connect and OAuth 2 protocol surface. All Authlib glue lives in this package."""

from .server import create_server


def init_app(app) -> None:
    from . import backchannel, interactions
    from .logout import register_end_session
    from .views import bp

    server = create_server(app)
    register_end_session(server)
    app.register_blueprint(bp)
    app.after_request(interactions.apply_cookie)
    backchannel.init_app(app)
