"""A recorded-shape HTTP server on 127.0.0.1, and helpers for the intensity tests."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intensity"


@dataclass
class Reply:
    """One canned answer: a status, a body (a fixture name, raw text or an object), headers."""

    status: int = 200
    fixture: str | None = None
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def payload(self) -> bytes:
        if self.fixture is not None:
            return (FIXTURES / self.fixture).read_bytes()
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeApi:
    """Answers each path with its queued replies in order (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, deque[Reply]] = {}
        self.seen: list[Seen] = []
        self.base_url = ""

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = deque(replies)

    def reply_for(self, path: str) -> Reply:
        queue = self.routes.get(path)
        if not queue:
            return Reply(404, body={"error": f"no route {path}"})
        return queue.popleft() if len(queue) > 1 else queue[0]

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake.seen.append(Seen(parts.path, parse_qs(parts.query), dict(self.headers.items())))
            reply = fake.reply_for(parts.path)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            payload = reply.payload()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # serve_forever checks for shutdown() every poll_interval (0.5 s by default): each
    # teardown would wait that long
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment for 127.0.0.1
    yield session
    session.close()
