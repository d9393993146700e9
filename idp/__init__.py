"""SPOM Login: an OpenID Connect provider. ``idp.app.create_app`` builds the WSGI application."""
