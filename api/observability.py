"""Request ids, structured logs and the readiness probe of Ray: what an operator needs from an API process.

- ``RequestIdMiddleware`` (pure ASGI, so it adds one coroutine frame per request, not a Starlette
  ``BaseHTTPMiddleware`` task): takes ``X-Request-ID`` from the request when it is a sane token, otherwise
  makes one, returns it on the response and keeps it in a contextvar for the duration of the request.
- ``JsonFormatter``: one JSON object per log line (time, level, logger, message, request id, exception),
  for log pipelines; ``configure_logging`` installs it or the human-readable text format
  (``BOOKING_LOG_FORMAT=json|text``). The middleware is installed only in JSON mode: the text format has no
  place for the id, and the hold path is CPU-bound in this process (docs/measurements.md). In JSON mode
  stdout is wrapped too (``JsonLinesStream``): what libraries print there (Ray's driver relays cluster
  events such as "node marked dead" that way) leaves as JSON lines instead of breaking the stream.
  Either way, libraries' routine INFO lines (httpx logs every request) are held back unless the level is
  DEBUG: at INFO the console carries what the service itself says.
- ``RayProbe``: whether this process still reaches Ray's control store (GCS), for ``/readyz``. One check at
  a time in a thread, bounded and cached briefly, so probes never pile up on a stuck GCS.
- ``ray_dashboard_sign_in``: what the start banner says about the token the Ray dashboard asks for.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# Accepted from clients as is: short, printable, no separators a log parser could trip on.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")
# Libraries that log routine work at INFO: httpx a line per request (the payment reconciler polls the
# gateway every few seconds, forever), alembic its context on every start. At INFO and above only their
# warnings and errors reach the console, so what is left at INFO is the service's own account (started,
# where, what failed, what recovered); at DEBUG they speak again.
CHATTY_LIBRARIES = ("httpx", "httpcore", "urllib3", "asyncio", "alembic", "aiosmtplib", "multipart", "filelock")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return os.urandom(12).hex()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value: str | None = None
        for name, raw in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if _SANE_ID.fullmatch(raw):
                    value = raw.decode("ascii")
                break
        rid = value or new_request_id()
        header = (REQUEST_ID_HEADER, rid.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A copy: a response object may be reused, and its own header list must not grow.
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id"?, "exc_info"?}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class JsonLinesStream(io.TextIOBase):
    """A text stream that writes each line it is given to ``target`` as one JSON object (``logger`` =
    ``source``), unless the line already is one. For output that bypasses ``logging``."""

    def __init__(self, target: TextIO, source: str) -> None:
        super().__init__()
        self._target = target
        self._source = source
        self._partial = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            for raw in lines:
                line = _ANSI_CODES.sub("", raw).rstrip()
                if line:
                    self._target.write((line if _is_json_object(line) else self._encode(line)) + "\n")
            if lines:
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def fileno(self) -> int:  # for code that asks (faulthandler, subprocess): raw writes bypass the wrapping
        return self._target.fileno()

    def isatty(self) -> bool:
        return False

    def _encode(self, line: str) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": self._source,
            "message": line,
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        return json.dumps(entry, ensure_ascii=False)


def _is_json_object(line: str) -> bool:
    if not line.startswith("{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def configure_logging(log_format: Literal["text", "json"], level: str | int) -> None:
    """Replace the root handler with one writing ``log_format`` to stderr; in JSON mode, make stdout
    carry JSON lines too. Libraries' routine INFO lines are held back (``CHATTY_LIBRARIES``) unless
    ``level`` is DEBUG."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    library_level = logging.NOTSET if logging.getLogger().level <= logging.DEBUG else logging.WARNING
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    if log_format == "json" and not isinstance(sys.stdout, JsonLinesStream):
        sys.stdout = JsonLinesStream(sys.stdout, "stdout")


class RayProbe:
    """Answers "does this process still reach the Ray cluster?" without blocking the event loop."""

    def __init__(self, timeout_seconds: float = 2.0, cache_seconds: float = 1.0) -> None:
        self._timeout = timeout_seconds
        self._cache = cache_seconds
        self._checked_at = -1e9
        self._answer = False
        self._running: asyncio.Task[bool] | None = None

    async def connected(self) -> bool:
        if time.monotonic() - self._checked_at < self._cache:
            return self._answer
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(asyncio.to_thread(_reaches_gcs))
        try:
            self._answer = await asyncio.wait_for(asyncio.shield(self._running), self._timeout)
        except Exception:
            self._answer = False
        self._checked_at = time.monotonic()
        return self._answer


def ray_dashboard_sign_in() -> str | None:
    """Where the token is that the Ray dashboard of this process's cluster asks for, or None if it asks for
    none. Ray 2.60 turns token authentication on for a local cluster that ``ray.init`` starts (unless
    ``RAY_AUTH_MODE=disabled``); the dashboard then opens on "Authentication Token Required" and takes the
    token typed into that dialog or as a bearer header, never in the URL, so there is no login link to
    print. ``ray get-auth-token`` prints it from wherever Ray keeps it (``RAY_AUTH_TOKEN``,
    ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``). The token itself is never logged."""
    # Ray's own check, the one its dashboard applies (not a public API; ray is pinned exactly).
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    if not is_token_auth_enabled():
        return None
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    return f"asks for a token: `{ray_cli} get-auth-token` prints it"


def _reaches_gcs() -> bool:
    import ray

    if not ray.is_initialized():
        return False
    return any(node.get("Alive") for node in ray.nodes())  # type: ignore[no-untyped-call]
