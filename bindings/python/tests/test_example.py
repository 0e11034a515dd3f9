"""examples/roster.py runs end to end against the test server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "roster.py"


def test_example_runs(server, make_user) -> None:
    user = make_user("juliet")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), user.jid, user.password, server.host, str(server.port), server.ca_file, "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"connected as {user.jid}/" in out
    assert "push: added xmpp-roster-example@localhost" in out
    assert "push: removed xmpp-roster-example@localhost" in out
    assert "disconnected" in out


def test_example_reports_errors(server, make_user) -> None:
    user = make_user("juliet")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), user.jid, "wrong", server.host, str(server.port), server.ca_file, "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "AuthError" in result.stderr
