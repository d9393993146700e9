"""Shared relying-party plumbing: settings, a server-side session, the OpenID Connect sign-in/out
routes (Authlib's Flask client) and back-channel logout. Each app adds only its own pages."""

from .app import create_rp_app, current_user, login_required, step_up_required
from .config import RPConfig, SystemClock

__all__ = ["RPConfig", "SystemClock", "create_rp_app", "current_user", "login_required", "step_up_required"]
