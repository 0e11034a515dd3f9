"""A real XMPP server for the tests, on loopback only: Prosody 0.12 or ejabberd 23.01.

Run under the project's harness (``xmpp-test-server [--server prosody|ejabberd] -- pytest ...``)
the server it started is used (``XMPP_TEST_*`` variables; ``XMPP_TEST_SERVER_KIND`` says which,
``XMPP_TEST_REGISTER_CMD`` registers accounts on either). Otherwise one Prosody is started for the
whole session in a temporary directory, on free 127.0.0.1 ports, with a self-signed certificate
for DNS:localhost, following /work/shared/XMPP-SERVERS.md; it is always stopped at the end, also
when tests fail. scripts/test-python.sh runs the suite both ways: its own Prosody, then ejabberd
through xmpp-test-server.

Where the two servers legitimately differ, a test asks ``server.kind`` (``"prosody"`` or
``"ejabberd"``), checks each server's own behaviour and says how they differ.

Each test registers its own fresh users (``make_user``), so tests never see each other's rosters.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

import xmpp_roster

DOMAIN = "localhost"
LOOPBACK = "127.0.0.1"

PROSODY_CONFIG = """\
run_as_root = true
pidfile = "{run}/prosody.pid"
data_path = "{run}/data"
plugin_paths = {{ }}
interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
c2s_direct_tls_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ {tls_port} }}
s2s_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix" }}
modules_disabled = {{ "s2s"; "s2s_auth_certs"; "offline" }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
c2s_stanza_size_limit = 64*1024*1024
ssl = {{ certificate = "{run}/localhost.crt"; key = "{run}/localhost.key" }}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{run}/prosody.log" }} }}
VirtualHost "localhost"
"""


PROSODY = "prosody"
EJABBERD = "ejabberd"


@dataclass
class Server:
    host: str
    port: int  # STARTTLS-capable c2s
    tls_port: int  # direct TLS
    ca_file: str
    log_file: Optional[str]
    kind: str = PROSODY  # PROSODY or EJABBERD
    # How to register an account: a command line to append NAME DOMAIN PASSWORD to.
    register_cmd: List[str] = field(default_factory=list)

    @property
    def is_ejabberd(self) -> bool:
        return self.kind == EJABBERD

    def register(self, name: str, password: str) -> None:
        subprocess.run(
            self.register_cmd + [name, DOMAIN, password],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=30,
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file or not os.path.exists(self.log_file):
            return f"(no {self.kind} log)"
        with open(self.log_file, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


@dataclass(frozen=True)
class User:
    name: str
    password: str

    @property
    def jid(self) -> str:
        return f"{self.name}@{DOMAIN}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, limit: float = 15.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prosody exited with {proc.returncode}:\n{log.read_text(errors='replace') if log.exists() else ''}")
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"prosody did not listen on {LOOPBACK}:{port} within {limit} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = os.environ
    if env.get("XMPP_TEST_PORT") and (env.get("XMPP_TEST_REGISTER_CMD") or env.get("XMPP_TEST_PROSODY_CONFIG")):
        # Started by the project's harness, which also stops it.
        host = env.get("XMPP_TEST_HOST", LOOPBACK)
        assert host in (LOOPBACK, "localhost"), f"refusing a non-loopback test server {host!r}"
        kind = env.get("XMPP_TEST_SERVER_KIND", PROSODY)
        assert kind in (PROSODY, EJABBERD), f"unknown XMPP_TEST_SERVER_KIND {kind!r}"
        run_dir = env.get("XMPP_TEST_SERVER_DIR")
        log = {PROSODY: "prosody.log", EJABBERD: os.path.join("logs", "ejabberd.log")}[kind]
        if env.get("XMPP_TEST_REGISTER_CMD"):
            register_cmd = shlex.split(env["XMPP_TEST_REGISTER_CMD"])
        else:  # an older harness: Prosody only
            register_cmd = ["prosodyctl", "--config", env["XMPP_TEST_PROSODY_CONFIG"], "register"]
        yield Server(
            host=LOOPBACK,
            port=int(env["XMPP_TEST_PORT"]),
            tls_port=int(env["XMPP_TEST_TLS_PORT"]),
            ca_file=env["XMPP_TEST_CA_FILE"],
            log_file=os.path.join(run_dir, log) if run_dir else None,
            kind=kind,
            register_cmd=register_cmd,
        )
        return

    for tool in ("prosody", "prosodyctl", "openssl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/deps/core.apt lists it)")
    run = tmp_path_factory.mktemp("prosody")
    (run / "data").mkdir()
    (run / "certs").mkdir()  # Prosody indexes it at start-up and logs an error if missing
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(run / "localhost.key"), "-out", str(run / "localhost.crt"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = run / "prosody.cfg.lua"
    log = run / "prosody.log"
    # A free port can be taken by someone else between choosing it and Prosody binding it:
    # then start again on other ports (three attempts).
    for attempt in range(3):
        c2s_port, tls_port = _free_port(), _free_port()
        while tls_port == c2s_port:
            tls_port = _free_port()
        config.write_text(PROSODY_CONFIG.format(run=run, c2s_port=c2s_port, tls_port=tls_port))
        with open(run / "prosody.out", "wb") as out:
            proc = subprocess.Popen(
                ["prosody", "--config", str(config), "-F"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_listening(c2s_port, proc, log)
            _wait_listening(tls_port, proc, log)
            break
        except RuntimeError:
            _stop(proc)
            if attempt == 2:
                raise
    try:
        yield Server(
            host=LOOPBACK,
            port=c2s_port,
            tls_port=tls_port,
            ca_file=str(run / "localhost.crt"),
            log_file=str(log),
            kind=PROSODY,
            register_cmd=["prosodyctl", "--config", str(config), "register"],
        )
    finally:
        _stop(proc)


@pytest.fixture
def make_user(server: Server) -> Callable[..., User]:
    """Registers a fresh account: ``make_user("alice")`` -> User("alice-<unique>", password)."""

    def make(prefix: str = "user") -> User:
        user = User(f"{prefix}-{uuid.uuid4().hex[:10]}", "pw-" + uuid.uuid4().hex[:12])
        server.register(user.name, user.password)
        return user

    return make


@pytest.fixture
def config_for(server: Server) -> Callable[..., xmpp_roster.Config]:
    """``config_for(user, **overrides)``: a Config for the test server (STARTTLS, trusting its
    certificate, 10 s timeout) unless overridden."""

    def make(user: User, **overrides) -> xmpp_roster.Config:  # type: ignore[no-untyped-def]
        kwargs = dict(
            host=server.host,
            port=server.port,
            tls="starttls",
            ca_file=server.ca_file,
            timeout=10.0,
        )
        kwargs.update(overrides)
        return xmpp_roster.Config(user.jid, user.password, **kwargs)

    return make


@pytest.fixture
def connect(config_for: Callable[..., xmpp_roster.Config]) -> Iterator[Callable[..., xmpp_roster.Client]]:
    """``connect(user, **config_overrides)``: a connected Client, closed after the test."""
    clients: List[xmpp_roster.Client] = []

    def make(user: User, **overrides) -> xmpp_roster.Client:  # type: ignore[no-untyped-def]
        client = xmpp_roster.Client(config_for(user, **overrides))
        clients.append(client)
        client.connect()
        return client

    yield make
    for client in clients:
        try:
            client.close()
        except xmpp_roster.XmppRosterError:
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """On failure, show the end of the server log."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(srv, Server):
            report.sections.append((f"{srv.kind} log (tail)", srv.log_tail()))


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    if os.environ.get("XMPP_TEST_PORT"):
        return f"xmpp test server: {os.environ.get('XMPP_TEST_SERVER_KIND', PROSODY)} (from xmpp-test-server)"
    return "xmpp test server: prosody (started by conftest)"
