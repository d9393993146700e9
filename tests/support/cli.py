"""The ``idp`` console script for tests: its environment, and a run in process (CliRunner) or as the
real script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.constants import TEST_KEYS_PASSPHRASE

IDP = str(Path(sys.executable).with_name("idp"))
PASSWORD = "a long enough password"


def base_env(tmp_path: Path, **settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env.update(IDP_INSTANCE_DIR=str(tmp_path / "instance"))
    if "database_url" in settings:
        # The shared test database keeps its signing keys between tests: they must stay readable.
        settings.setdefault("keys_passphrase", TEST_KEYS_PASSPHRASE)
    env.update({f"IDP_{k.upper()}": v for k, v in settings.items()})
    return env


def run(
    env: dict, *args: str, stdin: str | None = None, timeout: float = 60, script: bool = False
) -> subprocess.CompletedProcess:
    """``idp ARGS`` with exactly the ``IDP_*`` variables of ``env``: in-process through click's
    CliRunner (a subprocess spends ~1.5 s importing before it starts: minutes over the suite), or
    as the real console script for ``serve`` and when ``script`` is set."""
    if script or (args and args[0] == "serve"):
        return subprocess.run(
            [IDP, *args],
            env=env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    from click.testing import CliRunner

    from idp.cli import main

    variables = {k: None for k in os.environ if k.startswith("IDP_")}
    variables.update({k: v for k, v in env.items() if k.startswith("IDP_")})
    result = CliRunner().invoke(
        main, list(args), env=variables, input=stdin if stdin is not None else "", prog_name="idp"
    )
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the console script would print for a crash, so "no traceback" assertions still bite.
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess([IDP, *args], result.exit_code, result.stdout, stderr)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]
