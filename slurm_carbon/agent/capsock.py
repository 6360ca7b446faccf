"""How ``agent set-cap`` reaches the agent: a unix socket that names the requester.

The agent listens on ``--socket`` (default ``/run/slurm-carbon/agent.sock``, mode
0666): anyone on the node may ask, and the agent, not the client, decides. The
kernel tells it who asks (``SO_PEERCRED``), so a uid cannot be forged; the
agent's next tick then allows the request only from root or the job's owner
(the uid in the job's ``.start``) and only on a GPU the job holds alone. A
request is one ``KEY=VALUE`` block (``JOB_ID``, ``GPU``, ``WATTS``; see
:func:`~slurm_carbon.agent.handoff.parse_cap_request`); the answer is one line,
``ok: ...`` or ``refused: ...``. Connections are served one at a time, each
bounded in size and time, so no client can hold the agent.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import stat
import struct
import threading
from pathlib import Path

from slurm_carbon.agent.handoff import CapRequest, parse_cap_request
from slurm_carbon.errors import ConfigError
from slurm_carbon.text import escape_control

__all__ = [
    "ANSWER_TIMEOUT_S",
    "CAP_REQUEST_MAX_BYTES",
    "DEFAULT_SOCKET",
    "CapChannel",
    "PendingCap",
    "request_cap",
]

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/slurm-carbon/agent.sock"

#: A request is three short lines (a job id, a GPU UUID, watts): 512 bytes is ample.
CAP_REQUEST_MAX_BYTES = 512

#: A client must send its request within this time, so a silent one cannot block others.
_CLIENT_TIMEOUT_S = 2.0

#: How long a request waits for the agent's tick to decide: a tick runs every
#: sample period (1 s by default); 10 s also covers a tick slowed by a slow device.
ANSWER_TIMEOUT_S = 10.0

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class PendingCap:
    """A cap request waiting for the agent's tick, with who asked.

    Attributes:
        request: What was asked.
        uid: The requester's uid, as the kernel reported it.
    """

    def __init__(self, request: CapRequest, uid: int) -> None:
        self.request = request
        self.uid = uid
        self.answer: str | None = None
        self._done = threading.Event()

    def reply(self, *, applied: bool, message: str) -> None:
        """Decide the request: ``ok: <message>`` or ``refused: <message>``."""
        self.answer = f"{'ok' if applied else 'refused'}: {message}"
        self._done.set()

    def wait(self, timeout_s: float) -> str | None:
        """The answer, or ``None`` if the tick did not decide in time."""
        self._done.wait(timeout_s)
        return self.answer


class CapChannel:
    """Cap requests for the agent's tick: from the socket, or submitted in-process.

    Args:
        path: The socket to listen on, or ``None`` for in-process requests only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[PendingCap] = queue.SimpleQueue()
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, request: CapRequest, uid: int) -> PendingCap:
        """Queue a request made by ``uid`` for the next tick."""
        pending = PendingCap(request, uid)
        self._queue.put(pending)
        return pending

    def take(self) -> list[PendingCap]:
        """Every request queued so far, oldest first."""
        taken = []
        while not self._queue.empty():
            taken.append(self._queue.get_nowait())
        return taken

    def open(self) -> None:
        """Listen on :attr:`path` (a stale socket there is replaced) and serve on a thread.

        Raises:
            ConfigError: The socket cannot be created (e.g. its path holds another file).
        """
        if self.path is None or self._sock is not None:
            return
        try:
            self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if self.path.is_symlink() or self.path.exists():
                if not stat.S_ISSOCK(os.lstat(self.path).st_mode):
                    raise ConfigError(f"socket {self.path}: another kind of file is there")
                if _listening(self.path):
                    raise ConfigError(f"socket {self.path}: another agent listens on it")
                self.path.unlink()  # a stale socket of an agent that died
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(self.path))
            os.chmod(self.path, 0o666)  # anyone may ask; the agent decides  # noqa: S103
            sock.listen(16)
            sock.settimeout(0.2)
        except OSError as err:
            raise ConfigError(f"socket {self.path}: {err.strerror or err}") from err
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="set-cap", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving and remove the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=ANSWER_TIMEOUT_S + _CLIENT_TIMEOUT_S)
        if self._sock is not None:
            self._sock.close()
            if self.path is not None:
                self.path.unlink(missing_ok=True)
        self._sock = None

    def _serve(self) -> None:
        assert self._sock is not None  # noqa: S101 - opened before the thread starts
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    self._handle(conn)
                except OSError as err:
                    logger.warning("set-cap connection failed: %s", err)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(_CLIENT_TIMEOUT_S)
        _, uid, _ = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        )
        data = b""
        while len(data) <= CAP_REQUEST_MAX_BYTES:
            chunk = conn.recv(CAP_REQUEST_MAX_BYTES + 1 - len(data))
            if not chunk:
                break
            data += chunk
        try:
            if len(data) > CAP_REQUEST_MAX_BYTES:
                raise ValueError(f"request larger than {CAP_REQUEST_MAX_BYTES} bytes")  # noqa: TRY301 - one refusal path
            request = parse_cap_request(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as err:
            message = escape_control(str(err))
            logger.warning("set-cap request from uid %d refused: %s", uid, message)
            conn.sendall(f"refused: {message}\n".encode())
            return
        answer = self.submit(request, uid).wait(ANSWER_TIMEOUT_S)
        if answer is None:
            answer = "refused: the agent did not decide in time (try again)"
        conn.sendall(answer.encode() + b"\n")


def request_cap(path: Path, request: CapRequest) -> str:
    """Send ``request`` to the agent listening on ``path``; return its one-line answer.

    Raises:
        ConfigError: No agent listens there, or it did not answer.
    """
    body = f"JOB_ID={request.job_id}\nGPU={request.gpu}\nWATTS={request.watts!r}\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(ANSWER_TIMEOUT_S + _CLIENT_TIMEOUT_S)
            sock.connect(str(path))
            sock.sendall(body.encode("ascii"))
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(1024):
                answer += chunk
                if len(answer) > CAP_REQUEST_MAX_BYTES:
                    break
    except OSError as err:
        raise ConfigError(
            f"cannot reach the agent at {path}: {err.strerror or err} (is it running?)"
        ) from err
    text = escape_control(answer[:CAP_REQUEST_MAX_BYTES].decode("utf-8", "replace").strip())
    if not text:
        raise ConfigError(f"the agent at {path} closed without answering")
    return text
