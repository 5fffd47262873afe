"""A fault-injecting TCP proxy for the PostgreSQL wire protocol: the service talks to PostgreSQL through it.

This module owns one tool: ``FaultProxy``, an asyncio proxy that runs its own event loop in a daemon
thread (so synchronous scenario code can drive it) and forwards bytes between clients and one upstream
server. Scenario 6 puts it between the service (API process and show actors) and PostgreSQL to cut
connections at the worst moment, the commit, where the client cannot know whether its transaction
committed.

Why it parses the protocol at all: "reset during commit" must be precise. The client-to-server stream
is split into PostgreSQL frontend messages (startup packets, then ``type byte + int32 length``), so the
proxy sees each ``COMMIT`` (a simple ``Query``, or a ``Parse`` in pipeline mode) and which statements
the transaction ran before it (``Query``/``Parse`` text, and ``Bind`` to a named prepared statement,
whose text it remembers from the ``Parse``). A commit fault can be limited to transactions that ran a
statement containing some text (e.g. ``INSERT INTO bookings``), and it comes in two kinds:

- ``before``: the ``COMMIT`` is never forwarded and both sides are reset: PostgreSQL rolls back, the
  client sees its connection die (outcome unknown to it; in fact nothing happened);
- ``after``: the ``COMMIT`` is forwarded, the server's answer is swallowed up to its ``ReadyForQuery``,
  then both sides are reset: the transaction committed, the client never hears so.

Other faults: reset every open connection now (``reset_all``), reset each connection after N bytes
(either direction), reset at random per forwarded chunk, refuse new connections, and stall (forward
nothing while paused). Resets are real TCP RSTs (``SO_LINGER`` 0). ``stats`` counts what happened.

The server must not negotiate TLS (the proxy cannot read encrypted traffic): give clients a URL with
``sslmode=disable`` (``FaultProxy.url`` does). Nothing here knows about the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["CommitFault", "FaultProxy", "ProxyStats", "proxied_url"]

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
READY_FOR_QUERY = b"Z\x00\x00\x00\x05"
CHUNK = 65536

Direction = Literal["up", "down", "both"]


@dataclass
class CommitFault:
    """Fault the next ``count`` commits (each with ``probability``) of transactions that ran a statement
    containing ``only_if`` (any transaction when ``None``)."""

    when: Literal["before", "after"]
    count: int = 1
    probability: float = 1.0
    only_if: bytes | None = None


@dataclass
class ProxyStats:
    connections: int = 0
    refused: int = 0
    resets: int = 0  # connections this proxy reset, for any reason
    commits_seen: int = 0
    commits_reset_before: int = 0
    commits_reset_after: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(eq=False)
class _Conn:
    """One proxied connection and what the client-side parser has learned about it."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False  # past the untyped startup packets
    statements: dict[bytes, bytes] = field(default_factory=dict)  # prepared statement name -> text
    in_tx_text: list[bytes] = field(default_factory=list)  # statement texts since the last transaction end
    sent_up: int = 0
    sent_down: int = 0
    swallow_until_ready: asyncio.Future[None] | None = None
    down_buffer: bytearray = field(default_factory=bytearray)
    closed: bool = False


def proxied_url(database_url: str, host: str, port: int) -> str:
    """``database_url`` with its host and port replaced (and ``sslmode=disable``): the same database through
    the proxy. Keeps user, password, database and the other query parameters."""
    parts = urlsplit(database_url)
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    query = dict(parse_qsl(parts.query))
    query["sslmode"] = "disable"
    return urlunsplit((parts.scheme, f"{userinfo}{host}:{port}", parts.path, urlencode(query), parts.fragment))


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (linger 0), not a FIN: the peer sees 'connection reset'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _query_text(kind: bytes, body: bytes) -> tuple[bytes | None, bytes | None]:
    """(statement name, text) of a Query or Parse message; (None, None) for other kinds."""
    if kind == b"Q":
        return None, body.rstrip(b"\x00")
    if kind == b"P":
        name, _, rest = body.partition(b"\x00")
        text, _, _ = rest.partition(b"\x00")
        return name, text
    return None, None


def _is_commit(text: bytes) -> bool:
    words = text.strip().rstrip(b";").strip().upper().split()
    return bool(words) and words[0] in (b"COMMIT", b"END") and len(words) <= 2


def _ends_transaction(text: bytes) -> bool:
    words = text.strip().upper().split()
    return bool(words) and words[0] in (b"COMMIT", b"END", b"ROLLBACK", b"ABORT", b"BEGIN", b"START")


class FaultProxy:
    """``FaultProxy(upstream_host, upstream_port).start()``; point clients at ``.port`` (or ``.url(db)``)."""

    def __init__(self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1", seed: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.port = 0
        self.stats = ProxyStats()
        self._random = random.Random(seed)  # fault decisions, reproducible per seed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        # Faults in force (read by the proxy's loop; set from any thread under the lock).
        self._commit_faults: list[CommitFault] = []
        self._reset_after_bytes: tuple[int, Direction] | None = None
        self._reset_probability = 0.0
        self._refusing = False
        self._paused = threading.Event()
        self._paused.set()  # set = flowing

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, self.listen_host, 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"fault-proxy-{self.upstream[1]}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._conns):
                self._close(conn, reset=False)

        with contextlib.suppress(Exception):
            self._call(shutdown(), timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, database_url: str) -> str:
        """``database_url`` rewritten to reach its database through this proxy."""
        return proxied_url(database_url, self.listen_host, self.port)

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        assert self._loop is not None, "proxy not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- controls (any thread) ------------------------------------------------------------------------

    def fault_commits(self, fault: CommitFault) -> None:
        """Add a commit fault (they are consumed in order)."""
        with self._lock:
            self._commit_faults.append(fault)

    def reset_after_bytes(self, limit: int | None, direction: Direction = "both") -> None:
        """Every connection (open or new) is reset once ``limit`` bytes went that way; ``None`` turns it off."""
        with self._lock:
            self._reset_after_bytes = None if limit is None else (limit, direction)

    def reset_randomly(self, probability: float) -> None:
        """Reset a connection with this probability at each forwarded chunk (0 turns it off)."""
        with self._lock:
            self._reset_probability = probability

    def refuse(self, refusing: bool) -> None:
        """Reset new connections as soon as they are accepted (existing ones go on)."""
        self._refusing = refusing

    def pause(self, paused: bool) -> None:
        """Stall: forward nothing in either direction while paused (bytes wait in the kernel buffers)."""
        if paused:
            self._paused.clear()
        else:
            self._paused.set()
        if not paused and self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: None)

    def clear(self) -> None:
        """No more faults; open connections go on."""
        with self._lock:
            self._commit_faults.clear()
            self._reset_after_bytes = None
            self._reset_probability = 0.0
        self._refusing = False
        self.pause(False)

    def reset_all(self) -> int:
        """Reset every open connection now; returns how many."""

        async def go() -> int:
            conns = [c for c in self._conns if not c.closed]
            for conn in conns:
                self._close(conn, reset=True)
            return len(conns)

        count: int = self._call(go())
        return count

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._conns if not c.closed)

    # -- the proxy ------------------------------------------------------------------------------------

    def _close(self, conn: _Conn, reset: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        if reset:
            self.stats.resets += 1
        for writer in (conn.client, conn.server):
            if reset:
                _rst(writer)
            else:
                with contextlib.suppress(Exception):
                    writer.close()
        if conn.swallow_until_ready is not None and not conn.swallow_until_ready.done():
            conn.swallow_until_ready.set_result(None)
        self._conns.discard(conn)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            self.stats.refused += 1
            _rst(client_writer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats.refused += 1
            _rst(client_writer)
            return
        self.stats.connections += 1
        conn = _Conn(client_writer, server_writer)
        self._conns.add(conn)
        await asyncio.gather(
            self._pump(conn, client_reader, self._up),
            self._pump(conn, server_reader, self._down),
            return_exceptions=True,
        )
        self._close(conn, reset=False)

    async def _pump(
        self, conn: _Conn, reader: asyncio.StreamReader, handle: Callable[[_Conn, bytes], Coroutine[Any, Any, bool]]
    ) -> None:
        while not conn.closed:
            data = await reader.read(CHUNK)
            if not data:
                self._close(conn, reset=False)
                return
            while not self._paused.is_set() and not conn.closed:  # noqa: ASYNC110 (a threading.Event, set from other threads)
                await asyncio.sleep(0.05)
            if conn.closed or not await handle(conn, data):
                return

    def _chunk_faults(self, conn: _Conn, direction: Literal["up", "down"]) -> bool:
        """True if this connection is to be reset now (byte budget or random)."""
        with self._lock:
            after, probability = self._reset_after_bytes, self._reset_probability
        if after is not None:
            limit, which = after
            sent = conn.sent_up if direction == "up" else conn.sent_down
            if which in (direction, "both") and sent >= limit:
                return True
        return probability > 0 and self._random.random() < probability

    async def _down(self, conn: _Conn, data: bytes) -> bool:
        conn.sent_down += len(data)
        self.stats.bytes_down += len(data)
        if conn.swallow_until_ready is not None:
            conn.down_buffer += data
            if READY_FOR_QUERY in conn.down_buffer and not conn.swallow_until_ready.done():
                conn.swallow_until_ready.set_result(None)
            return True
        if self._chunk_faults(conn, "down"):
            self._close(conn, reset=True)
            return False
        conn.client.write(data)
        await conn.client.drain()
        return True

    async def _up(self, conn: _Conn, data: bytes) -> bool:
        conn.buffer += data
        out = bytearray()
        while True:
            message = self._next_message(conn)
            if message is None:
                break
            kind, raw, body = message
            fault = self._commit_fault_for(conn, kind, body)
            if fault is not None:
                if out:
                    conn.server.write(bytes(out))
                await self._fault_commit(conn, fault, raw)
                return False
            out += raw
        if out:
            conn.sent_up += len(out)
            self.stats.bytes_up += len(out)
            if self._chunk_faults(conn, "up"):
                self._close(conn, reset=True)
                return False
            conn.server.write(bytes(out))
            await conn.server.drain()
        return True

    def _next_message(self, conn: _Conn) -> tuple[bytes, bytes, bytes] | None:
        """The next complete frontend message in the buffer: (kind, raw bytes, body); None if incomplete."""
        buf = conn.buffer
        if not conn.started:
            if len(buf) < 8:
                return None
            (length,) = struct.unpack("!i", buf[:4])
            if len(buf) < length:
                return None
            raw = bytes(buf[:length])
            del buf[:length]
            (code,) = struct.unpack("!i", raw[4:8])
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                conn.started = True  # the startup packet (or a cancel request): typed messages follow
            return b"", raw, b""
        if len(buf) < 5:
            return None
        (length,) = struct.unpack("!i", buf[1:5])
        if len(buf) < 1 + length:
            return None
        raw = bytes(buf[: 1 + length])
        del buf[: 1 + length]
        return raw[:1], raw, raw[5:]

    def _commit_fault_for(self, conn: _Conn, kind: bytes, body: bytes) -> CommitFault | None:
        """Track statement texts; return the fault to apply if this message is a faulted COMMIT."""
        name, text = _query_text(kind, body)
        if kind == b"B":
            _portal, _, rest = body.partition(b"\x00")
            statement, _, _ = rest.partition(b"\x00")
            text = conn.statements.get(statement)
        elif kind == b"P" and name and text is not None:
            conn.statements[name] = text
        if text is None:
            return None
        if not _is_commit(text):
            if _ends_transaction(text):
                conn.in_tx_text.clear()
            else:
                conn.in_tx_text.append(text)
            return None
        self.stats.commits_seen += 1
        statements, conn.in_tx_text = conn.in_tx_text, []
        with self._lock:
            for fault in self._commit_faults:
                if fault.only_if is not None and not any(fault.only_if in s for s in statements):
                    continue
                if self._random.random() >= fault.probability:
                    return None
                fault.count -= 1
                if fault.count <= 0:
                    self._commit_faults.remove(fault)
                return fault
        return None

    async def _fault_commit(self, conn: _Conn, fault: CommitFault, commit: bytes) -> None:
        if fault.when == "before":
            self.stats.commits_reset_before += 1
            self._close(conn, reset=True)
            return
        self.stats.commits_reset_after += 1
        conn.swallow_until_ready = asyncio.get_running_loop().create_future()
        conn.server.write(commit)
        with contextlib.suppress(Exception):
            await conn.server.drain()
            await asyncio.wait_for(asyncio.shield(conn.swallow_until_ready), timeout=5)
        self._close(conn, reset=True)


def _main() -> None:
    """``python -m reliability.proxy UPSTREAM_PORT``: a plain proxy, for poking at it by hand."""
    import sys
    import time

    proxy = FaultProxy("127.0.0.1", int(sys.argv[1])).start()
    print(f"proxy on 127.0.0.1:{proxy.port}", flush=True)
    try:
        while True:
            time.sleep(5)
            print(proxy.stats.snapshot(), flush=True)
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    _main()
