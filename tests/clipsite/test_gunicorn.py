"""Servers started from the repository (scripts/run, bench.api) read gunicorn.conf.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(port: int, home: Path, data: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOME": str(home),
        "CLIPSEARCH_DATA_DIR": str(data),
        "DJANGO_SETTINGS_MODULE": "clipsite.settings",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "clipsite.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _healthy(port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            time.sleep(0.3)
    return False


def test_two_servers_under_one_user_do_not_share_a_control_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ports = [_free_port(), _free_port()]
    servers = [_serve(port, home, tmp_path / f"data{n}") for n, port in enumerate(ports)]
    try:
        assert all(_healthy(port) for port in ports)
        # The per-user default path (~/.gunicorn/gunicorn.ctl) is never created.
        assert not (home / ".gunicorn").exists()
        os.killpg(servers[0].pid, signal.SIGTERM)
        servers[0].wait(timeout=60)
        assert _healthy(ports[1], timeout=5)
    finally:
        for server in servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
