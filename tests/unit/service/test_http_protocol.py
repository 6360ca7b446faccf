"""The service's HTTP parser (httptools, bounded) over a raw socket: odd requests get a 4xx."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slurm_carbon.cli.main import cli
from slurm_carbon.cli.service import WEB_SECRET_VARIABLE
from slurm_carbon.service import create_app
from slurm_carbon.service.http_protocol import MAX_HEAD_BYTES, BoundedHttpToolsProtocol
from slurm_carbon.store import upgrade
from tests.unit.service.test_service_cli import migrated
from tests.unit.service.test_web_cli import START_DEADLINE_S, keep_environment

__all__ = ["migrated"]  # fixture, shared

#: Seconds an answer may take: the service answers these at once, so a read that
#: runs out means it hangs on the request.
ANSWER_DEADLINE_S = 5.0
# A piece of a head sent alone, as a slow client would.
_PIECE = 4096

_INTERVALS = b"POST /api/v1/intervals HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The app over a SQLite file, served by uvicorn on the service's protocol."""
    url = f"sqlite:///{tmp_path_factory.mktemp('http') / 'store.db'}"
    upgrade(url)
    config = uvicorn.Config(
        create_app(url), host="127.0.0.1", port=0, log_level="error", http=BoundedHttpToolsProtocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_DEADLINE_S
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    assert config.http_protocol_class is BoundedHttpToolsProtocol
    yield int(server.servers[0].sockets[0].getsockname()[1])
    server.should_exit = True
    thread.join(START_DEADLINE_S)


def _status(port: int, *pieces: bytes) -> int:
    """Send the pieces one by one, then read the answer's status code."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_DEADLINE_S) as conn:
        try:
            for piece in pieces:
                conn.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused part way: the answer is already there
        status_line = conn.recv(64).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def _header(size: int) -> bytes:
    return b"X-Pad: " + b"a" * size + b"\r\n"


def test_the_service_command_runs_uvicorn_on_the_bounded_httptools_protocol(
    migrated: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_environment(monkeypatch)
    monkeypatch.delenv(WEB_SECRET_VARIABLE)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **kwargs: calls.append(kwargs))

    result = CliRunner().invoke(cli, ["service", "--url", migrated])

    assert result.exit_code == 0, result.output
    assert calls[0]["http"] is BoundedHttpToolsProtocol
    assert issubclass(calls[0]["http"], HttpToolsProtocol)


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="bad request line"),
        pytest.param(b"\x16\x03\x01\x00\xa5\x01\x00\x00" + bytes(50), id="TLS hello"),
        pytest.param(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", id="bad version"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", id="space before colon"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", id="NUL in a header"),
        pytest.param(_INTERVALS + b"Content-Length: abc\r\n\r\n", id="bad length"),
        pytest.param(
            _INTERVALS + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", id="two lengths"
        ),
        pytest.param(
            _INTERVALS + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="length and chunked",
        ),
        pytest.param(
            _INTERVALS + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
            id="bad chunk size",
        ),
        pytest.param(b"GET /" + b"a" * 4 * MAX_HEAD_BYTES + b" HTTP/1.1\r\n\r\n", id="long URL"),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\n" + _header(2 * MAX_HEAD_BYTES) + b"\r\n",
            id="long header",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\n" + b"X: a\r\n" * MAX_HEAD_BYTES + b"\r\n",
            id="many headers",
        ),
    ],
)
def test_an_odd_request_is_400_at_once(port: int, request_bytes: bytes) -> None:
    assert _status(port, request_bytes) == 400


def test_a_head_sent_slowly_is_refused_once_over_the_bound(port: int) -> None:
    pieces = [b"GET /healthz HTTP/1.1\r\n"] + [_header(_PIECE)] * (MAX_HEAD_BYTES // _PIECE + 2)

    # Never completed: refused on the bytes received, not when it ends.
    assert _status(port, *pieces) == 400


def test_a_head_within_the_bound_is_served(port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    pad = _header(MAX_HEAD_BYTES - len(head) - 64)

    assert _status(port, head + pad + b"\r\n") == 200


def test_a_body_does_not_count_towards_the_head(port: int) -> None:
    body = b"{" + b" " * (4 * MAX_HEAD_BYTES) + b"}"
    head = _INTERVALS + b"Content-Type: application/json\r\nAuthorization: Bearer nope\r\n"

    # The app's own answer (no such token), not the parser's 400.
    assert _status(port, head + b"Content-Length: %d\r\n\r\n" % len(body) + body) == 401
