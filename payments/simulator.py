"""The simulated payment gateway: a small HTTP service with its own ledger, run by default and in tests.

It stands in for a real card processor, so the booking service talks to it over HTTP exactly as it would
to a real one (through ``payments.http_gateway.HttpGateway``): timeouts, retries and lost answers are
real. It is a separate service: its ledger lives in its own PostgreSQL schema ``gateway``, which it
creates itself at start (not through the project's Alembic migrations), and nothing else writes there.

Idempotency is the database's job, not this process's: ``gateway.charges.idempotency_key`` and
``gateway.refunds.idempotency_key`` are unique, a charge is ``INSERT … ON CONFLICT DO NOTHING``, and a
refund locks its charge row, so concurrent requests with one key move money once, and concurrent refunds
of one charge never add up to more than it.

Endpoints (JSON, amounts as decimal strings):

- ``POST /v1/charges`` ``{"idempotency_key", "amount", "card_number"}`` → the charge
  ``{"charge_id", "idempotency_key", "status": "captured" | "declined", "amount", "refunded", "detail",
  "created_at", "card_last4"}``. Repeating a key returns the first outcome and never charges again; the same key with
  another amount or card is a 409.
- ``GET /v1/charges/{idempotency_key}`` → that charge, or 404.
- ``GET /v1/charges?status=captured&since=ISO8601`` → a list of charges, oldest first.
- ``POST /v1/charges/{charge_id}/refunds`` ``{"idempotency_key", "amount"}`` → ``{"refund_id",
  "charge_id", "amount", …}``. Repeating a key returns the first refund; more than what is left of the
  charge, a declined charge, or a key reused for another refund is a 409; an unknown charge a 404.
- ``GET /v1/ledger`` → every charge and refund, and the totals captured and refunded.
- ``PUT /v1/faults`` ``{"fail_before_rate", "fail_after_rate", "delay_seconds", "seed"?}``,
  ``GET /v1/faults`` (the faults and how many requests each hit), ``DELETE /v1/faults``: fault injection
  on every ``/v1/charges…`` request.
  *fail_before*: answer 503 without doing anything. *fail_after*: do the work (a charge is committed),
  then answer 503 anyway: the client's retry gets the second answer for the same charge ("answers
  twice"). *delay*: wait that long before answering.
- ``GET /healthz`` → 200 once the ledger is reachable.

Test cards:

- ``4242424242424242`` approved.
- ``4000000000000002`` declined ("card declined").
- ``4000000000000119`` transient failure: the first 2 attempts for a key get 503 (nothing charged), the
  third is approved.
- ``4000000000000259`` charges, then times out: the first attempt for a key commits the charge and then
  does not answer for ``--hang-seconds`` (default 60, far longer than a client waits); later attempts
  return the captured charge at once.
- ``4000000000003220`` slow: approved after ``--slow-seconds`` (default 2.0).
- any other number: declined ("card not accepted by the test gateway").

Run it with ``python -m payments.simulator --host 127.0.0.1 --port P --database-url URL``;
``SimulatorProcess`` does that from Python (``main.py`` on embedded defaults, and the test fixtures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from uuid import uuid4

import httpx
import uvicorn
from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from cluster.embedded import terminate
from payments.gateway import APPROVED_CARD, DECLINED_CARD
from settings import libpq_url

log = logging.getLogger("payments.simulator")

TRANSIENT_CARD = "4000000000000119"
TIMEOUT_CARD = "4000000000000259"
SLOW_CARD = "4000000000003220"
TRANSIENT_FAILURES = 2

# Serialises concurrent simulators creating the schema on one database (CREATE … IF NOT EXISTS races).
_SCHEMA_LOCK = 0x6761_7465_7761_79
_SCHEMA = (
    "CREATE SCHEMA IF NOT EXISTS gateway",
    """CREATE TABLE IF NOT EXISTS gateway.charges (
        charge_id text PRIMARY KEY,
        idempotency_key text NOT NULL UNIQUE,
        amount numeric(12, 2) NOT NULL CHECK (amount > 0),
        card_last4 text NOT NULL,
        status text NOT NULL CHECK (status IN ('captured', 'declined')),
        refunded numeric(12, 2) NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
        detail text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    "CREATE INDEX IF NOT EXISTS charges_created_at ON gateway.charges (created_at)",
    """CREATE TABLE IF NOT EXISTS gateway.refunds (
        refund_id text PRIMARY KEY,
        idempotency_key text NOT NULL UNIQUE,
        charge_id text NOT NULL REFERENCES gateway.charges (charge_id),
        amount numeric(12, 2) NOT NULL CHECK (amount > 0),
        created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )""",
    # Attempts per key of the transient-failure card, which fails its first attempts on purpose.
    """CREATE TABLE IF NOT EXISTS gateway.attempts (
        idempotency_key text PRIMARY KEY,
        attempts integer NOT NULL
    )""",
)

Key = Annotated[str, Field(min_length=1, max_length=255)]
Amount = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]


class ChargeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: Key
    amount: Amount
    card_number: str = Field(pattern=r"^[0-9]{12,19}$")


class Charge(BaseModel):
    charge_id: str
    idempotency_key: str
    status: Literal["captured", "declined"]
    amount: Decimal
    refunded: Decimal
    detail: str
    created_at: datetime
    card_last4: str


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: Key
    amount: Amount


class Refund(BaseModel):
    refund_id: str
    charge_id: str
    idempotency_key: str
    amount: Decimal
    created_at: datetime


class Totals(BaseModel):
    captured: Decimal
    refunded: Decimal
    captured_charges: int
    declined_charges: int
    refunds: int


class Ledger(BaseModel):
    charges: list[Charge]
    refunds: list[Refund]
    totals: Totals


class Faults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail_before_rate: float = Field(default=0.0, ge=0, le=1)
    fail_after_rate: float = Field(default=0.0, ge=0, le=1)
    delay_seconds: float = Field(default=0.0, ge=0, le=120)
    seed: int | None = None


class FaultState(Faults):
    """The faults in force, and how many requests they hit since they were set."""

    model_config = ConfigDict(extra="ignore")

    failed_before: int = 0
    failed_after: int = 0


class _Refused(Exception):
    """A definite answer other than success (404, 409): nothing was moved."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail


def card_outcome(card_number: str) -> tuple[Literal["captured", "declined"], str]:
    if card_number in (APPROVED_CARD, TRANSIENT_CARD, TIMEOUT_CARD, SLOW_CARD):
        return "captured", "approved"
    if card_number == DECLINED_CARD:
        return "declined", "card declined"
    return "declined", "card not accepted by the test gateway"


class GatewayLedger:
    """The ``gateway`` schema: every statement the simulator runs against PostgreSQL."""

    def __init__(self, database_url: str, max_connections: int = 10) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            libpq_url(database_url),
            connection_class=AsyncConnection[DictRow],
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=max_connections,
            open=False,
            timeout=5.0,
        )

    async def open(self) -> None:
        await self._pool.open(wait=True, timeout=30.0)
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in _SCHEMA:
                await conn.execute(statement)

    async def close(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    async def count_attempt(self, key: str) -> int:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO gateway.attempts (idempotency_key, attempts) VALUES (%s, 1) "
                "ON CONFLICT (idempotency_key) DO UPDATE SET attempts = gateway.attempts.attempts + 1 "
                "RETURNING attempts",
                (key,),
            )
            row = await cursor.fetchone()
        assert row is not None
        attempts: int = row["attempts"]
        return attempts

    async def charge(self, request: ChargeRequest) -> tuple[Charge, bool]:
        """The charge under this key, made now if there was none: ``(charge, created)``.

        The unique key decides: of concurrent requests with one key, one insert wins and the others wait
        for it, find the row taken and read it. A key reused for another amount or card is refused.
        """
        status, detail = card_outcome(request.card_number)
        last4 = request.card_number[-4:]
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO gateway.charges (charge_id, idempotency_key, amount, card_last4, status, detail) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING "
                "RETURNING charge_id, idempotency_key, status, amount, refunded, detail, created_at, card_last4",
                (f"ch_{uuid4().hex}", request.idempotency_key, request.amount, last4, status, detail),
            )
            row = await cursor.fetchone()
        charge = Charge.model_validate(row) if row is not None else await self.charge_by_key(request.idempotency_key)
        assert charge is not None  # charges are never deleted
        if charge.amount != request.amount or charge.card_last4 != last4:
            raise _Refused(409, "this idempotency key was used for another charge (amount or card)")
        return charge, row is not None

    async def charge_by_key(self, key: str) -> Charge | None:
        charges = await self.charges(key=key)
        return charges[0] if charges else None

    async def charges(
        self, status: str | None = None, since: datetime | None = None, key: str | None = None
    ) -> list[Charge]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT charge_id, idempotency_key, status, amount, refunded, detail, created_at, card_last4 "
                "FROM gateway.charges "
                "WHERE (%(key)s::text IS NULL OR idempotency_key = %(key)s) "
                "AND (%(status)s::text IS NULL OR status = %(status)s) "
                "AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s) "
                "ORDER BY created_at, charge_id",
                {"key": key, "status": status, "since": since},
            )
            rows = await cursor.fetchall()
        return [Charge.model_validate(row) for row in rows]

    async def refund(self, charge_id: str, request: RefundRequest) -> Refund:
        """Refund part or all of a captured charge, once per key.

        The charge row is locked first, so concurrent refunds of one charge are checked one after the
        other against what is left, and a concurrent repeat of a key finds the first refund.
        """
        try:
            async with self._pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(
                    "SELECT status, amount, refunded FROM gateway.charges WHERE charge_id = %s FOR UPDATE",
                    (charge_id,),
                )
                charge = await cursor.fetchone()
                if charge is None:
                    raise _Refused(404, "no such charge")
                cursor = await conn.execute(
                    "SELECT refund_id, charge_id, idempotency_key, amount, created_at "
                    "FROM gateway.refunds WHERE idempotency_key = %s",
                    (request.idempotency_key,),
                )
                prior = await cursor.fetchone()
                if prior is not None:
                    if prior["charge_id"] != charge_id or prior["amount"] != request.amount:
                        raise _Refused(409, "this idempotency key was used for another refund")
                    return Refund.model_validate(prior)
                if charge["status"] != "captured":
                    raise _Refused(409, "a declined charge cannot be refunded")
                left: Decimal = charge["amount"] - charge["refunded"]
                if request.amount > left:
                    raise _Refused(409, f"only {left} of this charge is left to refund")
                cursor = await conn.execute(
                    "INSERT INTO gateway.refunds (refund_id, idempotency_key, charge_id, amount) "
                    "VALUES (%s, %s, %s, %s) RETURNING refund_id, charge_id, idempotency_key, amount, created_at",
                    (f"re_{uuid4().hex}", request.idempotency_key, charge_id, request.amount),
                )
                refund = await cursor.fetchone()
                await conn.execute(
                    "UPDATE gateway.charges SET refunded = refunded + %s WHERE charge_id = %s",
                    (request.amount, charge_id),
                )
        except errors.UniqueViolation:
            # The same key, concurrently, on another charge: that one won.
            raise _Refused(409, "this idempotency key was used for another refund") from None
        assert refund is not None
        return Refund.model_validate(refund)

    async def ledger(self) -> Ledger:
        charges = await self.charges()
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT refund_id, charge_id, idempotency_key, amount, created_at "
                "FROM gateway.refunds ORDER BY created_at, refund_id"
            )
            refunds = [Refund.model_validate(row) for row in await cursor.fetchall()]
        captured = [c for c in charges if c.status == "captured"]
        return Ledger(
            charges=charges,
            refunds=refunds,
            totals=Totals(
                captured=sum((c.amount for c in captured), Decimal(0)),
                refunded=sum((r.amount for r in refunds), Decimal(0)),
                captured_charges=len(captured),
                declined_charges=len(charges) - len(captured),
                refunds=len(refunds),
            ),
        )


class FaultInjector:
    """The faults currently injected, and the random draws that decide which request they hit."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.failed_before = 0
        self.failed_after = 0
        self._random = random.Random()

    def set(self, faults: Faults) -> None:
        self.faults = faults
        self.failed_before = self.failed_after = 0
        self._random = random.Random(faults.seed)

    def state(self) -> FaultState:
        return FaultState(**self.faults.model_dump(), failed_before=self.failed_before, failed_after=self.failed_after)

    def hits(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate

    async def around(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/v1/charges"):
            return await call_next(request)
        faults = self.faults
        if self.hits(faults.fail_before_rate):
            self.failed_before += 1
            response: Response = _unavailable("injected fault: failed before doing anything")
        else:
            response = await call_next(request)
            if self.hits(faults.fail_after_rate):
                self.failed_after += 1
                response = _unavailable("injected fault: failed after doing the work")
        if faults.delay_seconds:
            await asyncio.sleep(faults.delay_seconds)
        return response


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})


def create_app(
    database_url: str, slow_seconds: float = 2.0, hang_seconds: float = 60.0, parent_pid: int | None = None
) -> FastAPI:
    """The gateway app. With ``parent_pid``, it stops itself once that process is no longer its parent."""
    ledger = GatewayLedger(database_url)
    faults = FaultInjector()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ledger.open()
        watcher = None if parent_pid is None else asyncio.create_task(_exit_when_orphaned(parent_pid))
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await ledger.close()

    app = FastAPI(title="Seatwise simulated payment gateway", lifespan=lifespan)
    app.middleware("http")(faults.around)

    @app.exception_handler(_Refused)
    async def refused(_: Request, exc: _Refused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        try:
            await ledger.ping()
        except Exception as exc:
            raise HTTPException(503, "the ledger database is not reachable") from exc
        return {"status": "ok"}

    @app.post("/v1/charges")
    async def create_charge(request: ChargeRequest) -> Charge:
        transient = request.card_number == TRANSIENT_CARD
        if transient and await ledger.count_attempt(request.idempotency_key) <= TRANSIENT_FAILURES:
            raise HTTPException(503, "temporary failure of the test gateway; nothing was charged")
        if request.card_number == SLOW_CARD:
            await asyncio.sleep(slow_seconds)
        charge, created = await ledger.charge(request)
        if created and request.card_number == TIMEOUT_CARD:
            await asyncio.sleep(hang_seconds)  # charged, but the caller will have given up on the answer
        return charge

    @app.get("/v1/charges/{idempotency_key}")
    async def get_charge(idempotency_key: str) -> Charge:
        charge = await ledger.charge_by_key(idempotency_key)
        if charge is None:
            raise HTTPException(404, "no charge under this idempotency key")
        return charge

    @app.get("/v1/charges")
    async def list_charges(
        status: Annotated[Literal["captured", "declined"] | None, Query()] = None,
        since: Annotated[datetime | None, Query()] = None,
    ) -> list[Charge]:
        return await ledger.charges(status=status, since=since)

    @app.post("/v1/charges/{charge_id}/refunds")
    async def create_refund(charge_id: str, request: RefundRequest) -> Refund:
        return await ledger.refund(charge_id, request)

    @app.get("/v1/ledger")
    async def get_ledger() -> Ledger:
        return await ledger.ledger()

    @app.get("/v1/faults")
    async def get_faults() -> FaultState:
        return faults.state()

    @app.put("/v1/faults")
    async def put_faults(new: Faults) -> FaultState:
        faults.set(new)
        return faults.state()

    @app.delete("/v1/faults", status_code=204)
    async def clear_faults() -> None:
        faults.set(Faults())

    return app


# -- running it as a process ------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class SimulatorProcess:
    """``python -m payments.simulator`` as a child process: start it, wait until healthy, stop it.

    The child runs in its own session (a terminal's Ctrl-C reaches the parent, which stops it in order)
    and exits by itself if its parent dies without stopping it.
    """

    database_url: str
    log_path: Path
    host: str = "127.0.0.1"
    port: int = 0
    slow_seconds: float = 2.0
    hang_seconds: float = 60.0
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start the gateway and return its base URL once ``/healthz`` answers 200."""
        if self.port == 0:
            self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module, no shell)
                [
                    sys.executable,
                    "-m",
                    "payments.simulator",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--database-url",
                    self.database_url,
                    "--slow-seconds",
                    str(self.slow_seconds),
                    "--hang-seconds",
                    str(self.hang_seconds),
                    "--exit-with-parent",
                ],
                cwd=Path(__file__).resolve().parent.parent,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"payment gateway exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=1.0).status_code == 200:
                    return self.base_url
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"payment gateway not healthy after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, 10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


async def _exit_when_orphaned(parent_pid: int) -> None:
    while True:
        await asyncio.sleep(1.0)
        if os.getppid() != parent_pid:
            break
    log.warning("parent process %d is gone; stopping", parent_pid)
    os.kill(os.getpid(), signal.SIGTERM)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the simulated payment gateway.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--database-url", required=True, help="PostgreSQL for the gateway's own ledger")
    parser.add_argument("--slow-seconds", type=float, default=2.0, help=f"how long card {SLOW_CARD} takes")
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=60.0,
        help=f"how long card {TIMEOUT_CARD} keeps the first attempt waiting after charging",
    )
    parser.add_argument("--exit-with-parent", action="store_true", help="stop when the parent process dies")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent_pid = os.getppid() if args.exit_with_parent else None
    app = create_app(args.database_url, args.slow_seconds, args.hang_seconds, parent_pid)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
