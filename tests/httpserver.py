"""A local HTTP server for the download tests (127.0.0.1 only, in-memory files; no internet)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Server"]


class Server:
    """Serves in-memory files; honours 'Range: bytes=N-' unless told not to; can cut a transfer short, or
    stream without a Content-Length (endlessly, with ``endless``)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []  # {"path", "range"} of every GET
        self.ignore_range = False
        self.cut_after: int | None = None
        self.no_length = False  # send no Content-Length (the body ends when the connection closes)
        self.endless = False  # with no_length: after the file, zeros until the client hangs up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append({"path": self.path, "range": self.headers.get("Range")})
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng and not outer.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    status = 206
                body = data[start:]
                self.send_response(status)
                if outer.no_length:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        self.wfile.write(body)
                        while outer.endless:
                            self.wfile.write(b"\0" * 65536)
                    except OSError:  # the client stopped reading
                        pass
                    return
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if outer.cut_after is not None:
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
