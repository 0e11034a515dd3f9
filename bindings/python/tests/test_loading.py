"""Finding and checking the shared library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xmpp_roster
from xmpp_roster import _ffi

PROBE = "import xmpp_roster; print(xmpp_roster.library_path)"


def _run(env_changes: dict, cwd: Path, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop(_ffi.LIBRARY_ENV, None)
    env.update(env_changes)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_environment_variable_wins() -> None:
    assert Path(xmpp_roster.library_path) == Path(os.environ[_ffi.LIBRARY_ENV])


def test_unloadable_library_is_a_clear_import_error(tmp_path) -> None:
    missing = tmp_path / "nope" / "libxmpp_roster.so"
    result = _run({_ffi.LIBRARY_ENV: str(missing)}, tmp_path)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "XMPP_ROSTER_LIBRARY" in result.stderr and str(missing) in result.stderr


def test_copy_inside_the_package_is_found(tmp_path) -> None:
    package = Path(xmpp_roster.__file__).parent
    copy = tmp_path / "site" / "xmpp_roster"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(xmpp_roster.library_path, copy / "libxmpp_roster.so")
    result = _run({}, tmp_path, pythonpath=str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == copy / "libxmpp_roster.so"


def test_nothing_found_lists_everything_tried(tmp_path) -> None:
    package = Path(xmpp_roster.__file__).parent
    copy = tmp_path / "site" / "xmpp_roster"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.so.*"))
    result = _run({"LD_LIBRARY_PATH": ""}, tmp_path, pythonpath=str(tmp_path / "site"))
    if result.returncode == 0:
        pytest.skip(f"a system copy is installed: {result.stdout.strip()}")
    assert "cannot load the shared library" in result.stderr
    assert "$XMPP_ROSTER_LIBRARY (not set)" in result.stderr
    assert str(copy / "libxmpp_roster.so") in result.stderr
    assert "find_library('xmpp_roster')" in result.stderr


@pytest.mark.parametrize(
    "binding, accepted",
    [("0.1.0", True), ("0.1.9", True), ("0.2.0", False), ("1.1.0", False)],
)
def test_version_check(monkeypatch, binding: str, accepted: bool) -> None:
    # The loaded library is 0.1.x; pretend this package was written for another version.
    monkeypatch.setattr(_ffi, "BINDING_VERSION", binding)
    if accepted:
        assert _ffi._check_version(_ffi.lib, "lib") == xmpp_roster.library_version
    else:
        with pytest.raises(ImportError, match="needs"):
            _ffi._check_version(_ffi.lib, "lib")
