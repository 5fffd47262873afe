"""Stand-in HTTP servers: an ASGI app served by uvicorn in a thread of the calling process.

The negative controls of the reliability suite and of the integration tests point the very client code
they check at deliberately broken servers (one that races between check and take, one without a rate
limit), to prove their detectors can fire. ``serve_in_thread`` serves such an app on a free port for the
length of a ``with`` block and stops it after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from harness.service import free_port

__all__ = ["serve_in_thread"]


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", start_timeout: float = 10.0) -> Iterator[str]:
    """Serve the ASGI ``app`` on ``host`` and a free port; yields its ``http://127.0.0.1:<port>`` base URL
    once uvicorn has started (or ``start_timeout`` seconds have passed)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
