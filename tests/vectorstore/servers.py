"""Real sockets on 127.0.0.1 for the adapter's failure paths: a closed port, and a tiny
HTTP server that answers a few of Qdrant's REST routes, fails them, or never answers."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The one collection the fake server says it holds.
COLLECTION = "images-cluster-4"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeQdrant:
    """A tiny HTTP server on 127.0.0.1 answering a few of Qdrant's REST routes.

    `failures` 503s come first on /collections; `refuse` answers it 400;
    `hang` leaves query requests unanswered until the server stops.
    """

    def __init__(self, *, failures: int = 0, refuse: bool = False, hang: bool = False) -> None:
        self.failures = failures
        self.refuse = refuse
        self.hang = hang
        self.requests: list[str] = []
        self.stopped = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(f"GET {self.path}")
                path = self.path.split("?")[0]
                if path == "/":
                    self._answer(200, {"title": "qdrant", "version": "1.20.0"})
                elif path == "/collections":
                    if fake.refuse:
                        self._answer(400, {"status": {"error": "Bad request"}})
                    elif fake.failures > 0:
                        fake.failures -= 1
                        self._answer(503, {"status": {"error": "Service Unavailable"}})
                    else:
                        self._answer(200, {"result": {"collections": [{"name": COLLECTION}]}})
                elif path == "/aliases":
                    self._answer(200, {"result": {"aliases": []}})
                elif path.endswith("/exists"):
                    self._answer(200, {"result": {"exists": True}})
                else:
                    self._answer(404, {"status": {"error": "Not found"}})

            def do_POST(self) -> None:
                fake.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                if fake.hang and "/points/query" in self.path:
                    fake.stopped.wait(30)
                    return
                self._answer(404, {"status": {"error": "Not found"}})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps({**body, "time": 0.0}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def hits(self, route: str) -> int:
        return sum(1 for r in self.requests if r.split("?")[0] == route)
