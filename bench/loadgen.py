"""An open-loop HTTP load generator: a constant request rate, latency measured from the intended send time.

wrk is closed-loop: a slow answer delays the next request on its connection, so a stall hides the
requests that would have queued behind it (coordinated omission). Here request ``i`` is due at ``start +
i / rate`` whatever happened before; its latency is ``answer time - due time``, so time spent waiting
for a free connection or for the generator itself counts against the server, as a user would feel it.
The generator's own lag (actual send - due) is reported separately, so a run where the generator could
not keep up is visible rather than silently blamed on the server.

    python -m bench.loadgen SPEC.json OUT.json

SPEC: ``{"host", "port", "rate", "seconds", "connections", "requests": [raw HTTP/1.1 request text, ...]}``
(request ``i`` sends ``requests[i % len]``). OUT: ``{"latency_us": [...], "due_us": [...], "lag_us":
[...], "status": [...], "won": ["show|seat", ...], "unanswered": n, "achieved_rate": r}``, per request
in due order. Raw asyncio streams on uvloop with keep-alive connections: the cheapest client Python has,
since it shares the two cores with the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _sleep_until(due_ns: int) -> None:
    """Sleep until ``due_ns`` (perf_counter): timers may fire a little early, so check and sleep again."""
    wait = due_ns - time.perf_counter_ns()
    while wait > 0:
        await asyncio.sleep(wait / 1e9)
        wait = due_ns - time.perf_counter_ns()


def won_seats(body: bytes) -> list[str]:
    """``show|seat`` for every seat a 200 hold answer grants (the v0 ``SeedHoldOut`` shape)."""
    answer = json.loads(body)
    return [f"{answer['event_id']}|{seat}" for seat in answer["selected_seat"]]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate = float(spec["rate"])
    total = int(rate * float(spec["seconds"]))
    requests = [r.encode() for r in spec["requests"]]
    latency = [-1] * total
    lag = [0] * total
    status = [0] * total
    won: list[str] = []
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    connections = [await asyncio.open_connection(spec["host"], spec["port"]) for _ in range(spec["connections"])]
    start = time.perf_counter_ns() + 50_000_000
    interval = 1e9 / rate

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            i, due = await queue.get()
            lag[i] = (time.perf_counter_ns() - due) // 1000
            try:
                writer.write(requests[i % len(requests)])
                code, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                code, body = 0, b""  # a broken connection: counted as status 0, then reconnect
                writer.close()
                reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
            latency[i] = (time.perf_counter_ns() - due) // 1000
            status[i] = code
            if code == 200:
                with contextlib.suppress(ValueError, KeyError):
                    won.extend(won_seats(body))
            queue.task_done()

    workers = [asyncio.create_task(worker(r, w)) for r, w in connections]
    for i in range(total):
        due = start + int(i * interval)
        # Timers may fire a little early: never send before the due time.
        await _sleep_until(due)
        queue.put_nowait((i, due))
    sent_done = time.perf_counter_ns()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(queue.join(), timeout=15)
    end = time.perf_counter_ns()
    for task in workers:
        task.cancel()
    for _, writer in connections:
        writer.close()
    unanswered = sum(1 for v in latency if v < 0)
    # An unanswered request counts as answered at the end of the wait: a lower bound on its latency.
    latency = [v if v >= 0 else (end - (start + int(i * interval))) // 1000 for i, v in enumerate(latency)]
    return {
        "latency_us": latency,
        "due_us": [int(i * interval) // 1000 for i in range(total)],
        "lag_us": lag,
        "status": status,
        "won": won,
        "unanswered": unanswered,
        "achieved_rate": total / max((sent_done - start) / 1e9, 1e-9),
    }


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(spec))
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
