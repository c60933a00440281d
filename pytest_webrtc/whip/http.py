"""A small HTTP/1.1 client and server on asyncio streams, for WHIP and WHEP.

One request per connection (``Connection: close``), bodies by Content-Length (the client also
reads chunked replies and replies that end at EOF), bounded sizes and time everywhere.  It is
not a general HTTP implementation: it is what offer/answer over HTTP needs, with no dependency
beyond the standard library.  Malformed requests get a 400 and are counted by the server; a
body larger than :data:`MAX_BODY` gets a 413 before it is read.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..addresses import format_hostport
from ..errors import PeerError

__all__ = ["MAX_BODY", "HttpServer", "Request", "Response", "request"]

MAX_BODY = 256 * 1024  # an SDP offer with many m-lines is a few KiB
MAX_HEAD = 16 * 1024
REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict", 410: "Gone", 412: "Precondition Failed", 413: "Content Too Large",
    415: "Unsupported Media Type", 422: "Unprocessable Content", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable",
}  # fmt: skip


class _Headers:
    """Header access shared by requests and responses: ``headers`` is a list of (name, value)."""

    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case ("" when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


@dataclass
class Response(_Headers):
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str = ""
    url: str = ""  # the URL asked (client side), for resolving Location

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def said(self) -> str:
        """How the reply reads in a finding: ``HTTP 415 Unsupported Media Type``."""
        return f"HTTP {self.status} {self.reason or REASONS.get(self.status, '')}".rstrip()


@dataclass
class Request(_Headers):
    method: str
    path: str  # without the query
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: tuple[str, int]


def _split_headers(lines: list[bytes]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip() or name != name.strip():
            raise ValueError(f"malformed header line {line[:60]!r}")
        headers.append((name, value.strip()))
    return headers


async def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
    timeout: float = 5.0,
    cafile: str | None = None,
) -> Response:
    """Send one request and read the whole reply; PeerError says what failed (connect, timeout).
    HTTPS verifies the server's certificate: against the system's CAs, or ``cafile`` alone."""
    try:
        return await asyncio.wait_for(_request(method, url, headers or {}, body, cafile), timeout)
    except asyncio.TimeoutError:
        raise PeerError(f"{method} {url}: no complete reply within {timeout:g} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise PeerError(f"{method} {url}: {exc.strerror or exc}") from None
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise PeerError(f"{method} {url}: the reply is not HTTP/1.1: {exc}") from None


async def _request(
    method: str, url: str, headers: dict[str, str], body: bytes | str, cafile: str | None = None
) -> Response:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    context = ssl.create_default_context(cafile=cafile) if parts.scheme == "https" else None
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=context, limit=MAX_HEAD)
    try:
        data = body.encode() if isinstance(body, str) else body
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = {"Host": parts.netloc, "Connection": "close", "Content-Length": str(len(data))} | headers
        if method in ("GET", "DELETE", "OPTIONS") and not data:
            head.pop("Content-Length")
        lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()
        status_line = (await reader.readuntil(b"\r\n")).rstrip(b"\r\n")
        version, _, rest = status_line.partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            raise ValueError(f"status line {status_line[:60]!r}")
        raw = (await reader.readuntil(b"\r\n\r\n"))[:-4]
        reply_headers = _split_headers(raw.split(b"\r\n")) if raw else []
        reply = Response(int(code), reply_headers, b"", reason.decode("latin-1"), url)
        if method == "HEAD" or reply.status in (204, 304) or 100 <= reply.status < 200:
            return reply
        if (reply.header("transfer-encoding") or "").lower() == "chunked":
            reply.body = await _chunked(reader)
        elif (length := reply.header("content-length")) is not None:
            if int(length) > MAX_BODY:
                raise ValueError(f"a body of {length} bytes")
            reply.body = await reader.readexactly(int(length))
        else:
            reply.body = await reader.read(MAX_BODY)
        return reply
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        if len(out) + size > MAX_BODY:
            raise ValueError("a chunked body over the size limit")
        out += await reader.readexactly(size)
        await reader.readexactly(2)


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """``await HttpServer(handler).start(host, port)``; ``stop()``.  ``malformed`` counts 400s it gave itself."""

    def __init__(self, handler: Handler, *, read_timeout: float = 10.0, cors: bool = True) -> None:
        self.handler = handler
        self.read_timeout = read_timeout
        self.cors = cors
        self.malformed = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self.address: tuple[str, int] = ("", 0)

    @property
    def base_url(self) -> str:
        return f"http://{format_hostport(self.address)}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD)
        self.address = self._server.sockets[0].getsockname()[:2]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await asyncio.wait_for(self._read(reader, writer), self.read_timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            reply = None  # the client went away or never finished: nothing to answer
        except (ValueError, asyncio.LimitOverrunError, UnicodeDecodeError) as exc:
            self.malformed += 1
            reply = Response(400, [("Content-Type", "text/plain")], f"malformed request: {exc}\n".encode())
        try:
            if reply is not None:
                writer.write(self._encode(reply))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Response:
        head = (await reader.readuntil(b"\r\n\r\n"))[:-4].split(b"\r\n")
        fields = head[0].decode("latin-1").split(" ")
        if len(fields) != 3 or not fields[2].startswith("HTTP/1."):
            raise ValueError(f"request line {head[0][:60]!r}")
        method, target, _ = fields
        headers = _split_headers(head[1:])
        length_text = next((v for k, v in headers if k.lower() == "content-length"), "0")
        if not length_text.isdigit():
            raise ValueError(f"Content-Length {length_text!r}")
        if int(length_text) > MAX_BODY:
            return Response(413, [("Content-Type", "text/plain")], f"bodies are limited to {MAX_BODY} bytes\n".encode())
        body = await reader.readexactly(int(length_text)) if int(length_text) else b""
        path, _, query = target.partition("?")
        self.requests += 1
        peer = writer.get_extra_info("peername") or ("", 0)
        return await self.handler(Request(method, urllib.parse.unquote(path), query, headers, body, peer[:2]))

    def _encode(self, reply: Response) -> bytes:
        headers = list(reply.headers)
        if self.cors:  # browsers' WHIP clients (fetch) read these across origins
            headers += [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch"),
            ]
        if reply.status != 204:  # RFC 9110 §8.6: no Content-Length in a 204
            headers.append(("Content-Length", str(len(reply.body))))
        headers.append(("Connection", "close"))
        lines = [f"HTTP/1.1 {reply.status} {reply.reason or REASONS.get(reply.status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
