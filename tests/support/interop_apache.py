"""Apache httpd with Debian's mod_auth_openidc as a relying party: a generated configuration of its own
(ServerRoot in a temporary directory, one loopback port), run in the foreground as a child process.
The protected page is a server-side include that prints what the module hands the application."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.live import free_port

APACHE = "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"
#: Debian's packages (`.ci/run` installs them); a test that needs them fails when they are missing.
PACKAGES = "apache2 libapache2-mod-auth-openidc"

#: The claims page: mod_auth_openidc puts the claims, the tokens and REMOTE_USER into the environment
#: (OIDCPassClaimsAs environment), mod_include prints them.
CLAIMS_PAGE = """<!--#config echomsg="" -->
remote_user=<!--#echo var="REMOTE_USER" -->
sub=<!--#echo var="OIDC_CLAIM_sub" -->
email=<!--#echo var="OIDC_CLAIM_email" -->
name=<!--#echo var="OIDC_CLAIM_name" -->
roles=<!--#echo var="OIDC_CLAIM_roles" -->
access_token=<!--#echo var="OIDC_access_token" -->
refresh_token=<!--#echo var="OIDC_refresh_token" -->
"""


def missing() -> str | None:
    """Why Apache with mod_auth_openidc cannot run here, or None."""
    if not os.access(APACHE, os.X_OK) or not Path(MODULES, "mod_auth_openidc.so").is_file():
        return f"Apache with mod_auth_openidc is not installed: apt-get install -y {PACKAGES}"
    return None


@dataclass
class ApacheRP:
    """The module's settings that matter to the tests; ``url`` is the site's base URL."""

    issuer: str
    client_id: str
    client_secret: str
    port: int
    root: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def redirect_uri(self) -> str:
        return self.url + "/protected/redirect_uri"

    @property
    def claims_url(self) -> str:
        return self.url + "/protected/claims.shtml"

    @property
    def signed_out_url(self) -> str:
        return self.url + "/signed-out.html"

    @property
    def backchannel_logout_uri(self) -> str:
        # mod_auth_openidc receives back-channel logout tokens on its redirect URI (its documentation).
        return self.redirect_uri + "?logout=backchannel"

    def logout_url(self) -> str:
        """RP-initiated logout: the module ends its session, then sends the browser to the provider."""
        return f"{self.redirect_uri}?logout={requests.utils.quote(self.signed_out_url, safe='')}"

    def config(self) -> str:
        modules = [
            ("mpm_event_module", "mod_mpm_event.so"),
            ("authn_core_module", "mod_authn_core.so"),
            ("authz_core_module", "mod_authz_core.so"),
            ("authz_user_module", "mod_authz_user.so"),
            ("mime_module", "mod_mime.so"),
            ("include_module", "mod_include.so"),
            ("auth_openidc_module", "mod_auth_openidc.so"),
        ]
        # As root Apache's children drop to an unprivileged user, which must read the site (root is 0755).
        user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
        load = "\n".join(f"LoadModule {name} {MODULES}/{file}" for name, file in modules)
        return f"""ServerRoot "{self.root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{self.root}/httpd.pid"
DefaultRuntimeDir "{self.root}/run"
ErrorLog "{self.root}/error.log"
LogLevel warn auth_openidc:info
{user}{load}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
TypesConfig /etc/mime.types
DocumentRoot "{self.root}/htdocs"
<Directory "{self.root}/htdocs">
    Require all granted
</Directory>

OIDCProviderMetadataURL {self.issuer}/.well-known/openid-configuration
OIDCClientID {self.client_id}
OIDCClientSecret {self.client_secret}
OIDCRedirectURI {self.redirect_uri}
OIDCCryptoPassphrase {secrets.token_hex(32)}
OIDCScope "openid profile email offline_access"
OIDCPKCEMethod S256
OIDCPassClaimsAs environment
OIDCPassRefreshToken On
# The provider's access tokens live 600 s: refreshing when fewer than 3600 s are left refreshes on
# every request, so the test sees the refresh grant without waiting.
OIDCRefreshAccessTokenBeforeExpiry 3600 logout_on_error
OIDCDefaultLoggedOutURL {self.signed_out_url}

<Location /protected>
    AuthType openid-connect
    Require valid-user
    Options +Includes
    AddOutputFilter INCLUDES .shtml
    AddType text/plain .shtml
</Location>
"""

    def __enter__(self) -> ApacheRP:
        (self.root / "htdocs" / "protected").mkdir(parents=True)
        (self.root / "run").mkdir()
        (self.root / "htdocs" / "protected" / "claims.shtml").write_text(CLAIMS_PAGE)
        (self.root / "htdocs" / "signed-out.html").write_text("signed out\n")
        (self.root / "httpd.conf").write_text(self.config())
        with open(self.root / "stderr.log", "wb") as stderr:  # the child keeps its own copy open
            self.process = subprocess.Popen(
                [APACHE, "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"},
            )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self, timeout: float = 20) -> None:
        # Polls the child process starting up (as tests/support/cluster.py does for `idp serve`).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"apache exited with {self.process.returncode}:\n{self.logs()}")
            try:
                requests.get(self.signed_out_url, timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"apache not ready after {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            path = self.root / name
            if path.is_file():
                text += path.read_text(errors="replace")[-4000:]
        return text

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the parent stops its children and exits
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def apache_rp(issuer: str) -> ApacheRP:
    """A site on a free loopback port; register its URLs, set ``client_id``/``client_secret``, then enter it."""
    # Not pytest's tmp_path: its parents are 0700, and Apache's children do not run as root.
    root = Path(tempfile.mkdtemp(prefix="apache-rp-"))
    root.chmod(0o755)
    return ApacheRP(issuer=issuer, client_id="", client_secret="", port=free_port(), root=root)
