"""Start, find and stop the local AWS emulator (moto's server) in the background.

The server runs as a detached process on ``127.0.0.1`` (port 4566 unless configured) and
is reused by later commands. Its details live in ``$INFRADSL_HOME/local.json`` (default
``~/.infradsl``). ``INFRADSL_LOCAL_ENDPOINT`` points at an emulator that is already
running instead (another moto server, LocalStack).

Each emulator gets an *instance id*, stored inside the emulator itself (an SSM parameter),
so a restarted emulator (which forgets everything) is recognised by any command.

The emulator knows AWS's managed policies (``arn:aws:iam::aws:policy/...``, about 1,600,
from the copy moto ships) so that roles can attach them as on AWS: see `EMULATOR_ENV`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import attrs

from infradsl.errors import InfraDslError

__all__ = [
    "DEFAULT_PORT",
    "EMULATOR_ENV",
    "LocalCloud",
    "LocalCloudError",
    "ensure_local_cloud",
    "free_port",
    "home",
    "instance_id",
    "local_status",
    "spawn",
    "start",
    "stop",
]

DEFAULT_PORT = 4566

EMULATOR_ENV = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
"""Environment of every emulator infradsl starts: moto loads AWS's managed policies only
when asked (about 0.15 s per account, at its first IAM call)."""
_MARKER = "/infradsl/local-cloud/instance-id"


class LocalCloudError(InfraDslError):
    """The local cloud could not be started, reached or stopped."""


@attrs.frozen
class LocalCloud:
    """A running local emulator.

    Attributes:
        endpoint: ``http://127.0.0.1:PORT``.
        pid: the server's process id (``None`` for an external emulator).
        started_at: when it was started (epoch seconds; ``None`` if unknown).
        external: True when given by ``INFRADSL_LOCAL_ENDPOINT``.
    """

    endpoint: str
    pid: int | None = None
    started_at: float | None = None
    external: bool = False

    def uptime(self) -> float | None:
        """Seconds since start, if known."""
        return None if self.started_at is None else max(0.0, time.time() - self.started_at)


def home() -> Path:
    """infradsl's per-user directory (``$INFRADSL_HOME`` or ``~/.infradsl``)."""
    return Path(os.environ.get("INFRADSL_HOME") or Path.home() / ".infradsl")


def _info_file() -> Path:
    return home() / "local.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """True when an emulator answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def local_status() -> LocalCloud | None:
    """The local cloud in use, or ``None`` when none is running."""
    external = os.environ.get("INFRADSL_LOCAL_ENDPOINT")
    if external:
        return LocalCloud(endpoint=external.rstrip("/"), external=True)
    try:
        data = json.loads(_info_file().read_text())
    except (OSError, ValueError):
        return None
    pid = int(data.get("pid", 0))
    if not pid or not _alive(pid):
        return None
    return LocalCloud(endpoint=data["endpoint"], pid=pid, started_at=data.get("started_at"))


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(port: int | None = None, *, wait: float = 60.0) -> LocalCloud:
    """Start the local cloud in the background (or return the one already running).

    Raises:
        LocalCloudError: the port is taken by another program, or the server did not come up.
    """
    running = local_status()
    if running is not None:
        return running
    port = port or int(os.environ.get("INFRADSL_LOCAL_PORT", DEFAULT_PORT))
    endpoint = f"http://127.0.0.1:{port}"
    if not _port_free(port):
        if is_ready(endpoint):
            raise LocalCloudError(
                f"an emulator not started by infradsl is already listening on {endpoint}; use "
                f"it with INFRADSL_LOCAL_ENDPOINT={endpoint}, or stop it"
            )
        raise LocalCloudError(
            f"port {port} on 127.0.0.1 is taken by another program; free it or set "
            "INFRADSL_LOCAL_PORT to another port"
        )
    folder = home()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "local.log", "ab") as log:
        process = spawn(port, log, wait=wait, detach=True)
    started = time.time()
    info = {"endpoint": endpoint, "pid": process.pid, "started_at": started, "port": port}
    tmp = _info_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(_info_file())
    return LocalCloud(endpoint=endpoint, pid=process.pid, started_at=started)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    port: int, log: Any = subprocess.DEVNULL, *, wait: float = 60.0, detach: bool = False
) -> subprocess.Popen[bytes]:
    """Run moto's server on ``127.0.0.1:port`` and return once it answers.

    Args:
        log: where its output goes (a file opened for writing, or DEVNULL).
        wait: seconds to wait for it to answer.
        detach: run it in a session of its own, so it outlives this process.

    Raises:
        LocalCloudError: it exited, or did not answer within ``wait`` seconds.
    """
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=detach,
        close_fds=True,
        env={**os.environ, **EMULATOR_ENV},
    )
    deadline = time.monotonic() + wait
    while not is_ready(endpoint, timeout=0.5):
        if process.poll() is not None:
            where = f"; see {home() / 'local.log'}" if detach else ""
            raise LocalCloudError(
                f"the local cloud exited at start (code {process.returncode}){where}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise LocalCloudError(f"the local cloud did not answer on {endpoint} within {wait}s")
        time.sleep(0.1)
    return process


def stop() -> LocalCloud | None:
    """Stop the local cloud started by infradsl; return what was stopped (or ``None``)."""
    running = local_status()
    if running is None or running.external or running.pid is None:
        return None
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(running.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(running.pid):
        os.kill(running.pid, signal.SIGKILL)
    _info_file().unlink(missing_ok=True)
    return running


def ensure_local_cloud() -> LocalCloud:
    """The local cloud to use: ``INFRADSL_LOCAL_ENDPOINT``, the running one, or a new one."""
    running = local_status()
    if running is not None:
        if not is_ready(running.endpoint, timeout=3.0):
            raise LocalCloudError(
                f"the local cloud at {running.endpoint} does not answer"
                + (
                    ""
                    if running.external
                    else "; restart it with `infradsl local stop` and `infradsl local start`"
                )
            )
        return running
    return start()


def instance_id(clients: Any) -> str:
    """The emulator's instance id, created on first use (a restarted emulator gets a new one).

    Args:
        clients: a client provider for the emulator (see `infradsl.providers.aws.clients`).
    """
    ssm = clients.client("ssm")
    try:
        return str(ssm.get_parameter(Name=_MARKER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        value = uuid.uuid4().hex
        try:
            ssm.put_parameter(Name=_MARKER, Value=value, Type="String", Overwrite=False)
        except ssm.exceptions.ParameterAlreadyExists:
            return str(ssm.get_parameter(Name=_MARKER)["Parameter"]["Value"])
        return value
