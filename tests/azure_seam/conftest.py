"""Fixtures for the Azure seam: a scripted HTTP server that answers each request as told.

The tests of ``shipyard.azure``. Not ``tests/azure``: with ``tests`` on ``sys.path`` that folder would
join the Azure SDK's ``azure`` namespace package, and a test module could shadow an SDK module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ERROR_CODES = {403: "AuthenticationFailed", 400: "InvalidHeaderValue", 404: "ResourceNotFound", 409: "Conflict"}


@dataclass
class Script:
    """What the server answers, in order (then 201), and what it was sent."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    headers: dict[int, dict[str, str]] = field(default_factory=dict)  # extra headers by status
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, path with query)

    def url(self, path: str = "/acct/vhds/a.vhd") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def scripted() -> Iterator[Script]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            script.seen.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status = script.statuses.pop(0) if script.statuses else 201
            self.send_response(status)
            if status >= 400 and status != 429:
                self.send_header("x-ms-error-code", ERROR_CODES.get(status, "ServerBusy"))
            for name, value in script.headers.get(status, {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_GET = do_HEAD = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield script
    server.shutdown()
    server.server_close()
