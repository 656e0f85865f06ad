"""`servicecore token` signs with the server's secret, or refuses: never with one of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from servicecore.settings import Settings


def _token(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SERVICECORE_JWT_SECRET"}
    environment.update(SERVICECORE_DATA_DIR=str(data_dir), **env)
    return subprocess.run(
        [sys.executable, "-m", "servicecore.cli", "token", "--user", "adv-li", "--role",
         "advisor", "--stores", "S01"], env=environment, capture_output=True, text=True,
        timeout=60, check=False)


def test_without_the_servers_secret_no_token_is_made(tmp_path: Path) -> None:
    """Run outside the server's folder, the command used to make up a secret of its own there
    and print a token every request then refused with 401."""
    elsewhere = tmp_path / "not-the-server"
    made = _token(elsewhere)
    assert made.returncode == 2 and made.stdout == ""
    assert "no JWT secret" in made.stderr and "SERVICECORE_DATA_DIR" in made.stderr
    assert not (elsewhere / "jwt-secret").exists()


def test_the_token_is_signed_with_the_servers_secret(tmp_path: Path) -> None:
    (tmp_path / "jwt-secret").write_text("s" * 40 + "\n")
    made = _token(tmp_path)
    assert made.returncode == 0, made.stderr
    claims = jwt.decode(made.stdout.strip(), "s" * 40, algorithms=["HS256"])
    assert (claims["sub"], claims["role"], claims["stores"]) == ("adv-li", "advisor", ["S01"])
    configured = _token(tmp_path / "empty", SERVICECORE_JWT_SECRET="c" * 40)
    assert configured.returncode == 0, configured.stderr
    assert jwt.decode(configured.stdout.strip(), "c" * 40, algorithms=["HS256"])["sub"] == "adv-li"


def test_a_short_secret_stops_every_command_without_showing_it(tmp_path: Path) -> None:
    """A configured secret under 32 characters (HS256's 256 bits) could be guessed offline
    from any one token: it used to be taken as it was."""
    short = "guessable-" + "s" * 21  # 31 characters
    made = _token(tmp_path, SERVICECORE_JWT_SECRET=short)
    assert made.returncode == 2 and made.stdout == ""
    assert "SERVICECORE_JWT_SECRET: Value error, must have at least 32 characters" in made.stderr
    assert short not in made.stderr and "guessable" not in made.stderr
    assert _token(tmp_path, SERVICECORE_JWT_SECRET=short + "s").returncode == 0


def test_an_empty_secret_is_no_secret() -> None:
    """An empty variable (a compose file's `${…:-}`) means none: the generated one is used."""
    assert Settings(jwt_secret="").jwt_secret is None
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(jwt_secret="x" * 31)
    assert Settings(jwt_secret="x" * 32).jwt_secret == "x" * 32
