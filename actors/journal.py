"""The show actor's journal port: what an entity loads at activation and commits after each batch.

A ``ShowEntity`` (``actors/show_entity.py``) owns its show in memory and leaves its durability to a
``Journal``: ``activate`` takes a new epoch and loads the show, ``commit`` writes a batch's events in one
transaction or nothing (``StaleEpoch`` once a newer activation owns the show), ``place`` records where the
show runs. The types here are the ones that cross that port. The actors never pick an implementation:
whoever configures them (``main.py``, the test harness) puts a picklable ``Journals`` factory in the
``ActorConfig`` they are built with, because the actors run in Ray workers and get their configuration
pickled. PostgreSQL's is ``PostgresJournals`` (next to its store); unit tests use an in-memory one
(``tests/unit/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from actors.seat_map_core import Admission, Booking, Event, Hold, SeatSpec


@dataclass(frozen=True, slots=True)
class StoredShow:
    show_id: str
    epoch: int
    starts_at: datetime
    hold_ttl: timedelta
    status: str
    sales_open_at: datetime | None
    sales_close_at: datetime | None
    seats: tuple[SeatSpec, ...]
    holds: tuple[Hold, ...]
    bookings: tuple[Booking, ...]
    blocked: tuple[str, ...]
    reentry: bool = False  # a ticket may come back in after an exit scan
    admissions: tuple[Admission, ...] = ()  # the door's entries so far (``actors/door.py``)


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """The answer to record for an ``Idempotency-Key`` in the same transaction as the booking."""

    user_id: str
    key: str
    request_hash: str
    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PaymentOrigin:
    """Who asked for a payment, kept with its row for whoever settles it: the walk-in customer of a
    box-office sale, and the ``Idempotency-Key`` (with its request's fingerprint) of the request."""

    customer_name: str | None = None
    request_key: str | None = None
    request_hash: str | None = None


@dataclass(slots=True)
class CommitExtras:
    """What a batch commits besides its events: payment references of new bookings, and the answers to
    requests that carried an ``Idempotency-Key`` (stored in the same transaction as their effect)."""

    payment_refs: dict[str, str] = field(default_factory=dict)
    box_office: dict[str, str] = field(default_factory=dict)  # booking id -> walk-in customer's name
    payment_origins: dict[str, PaymentOrigin] = field(default_factory=dict)  # payment key -> who asked
    answers: list[IdempotentAnswer] = field(default_factory=list)


class Journal(Protocol):
    """One show's journal, as its entity uses it."""

    async def activate(self, show_id: str, own_actor: bool | None = None) -> StoredShow:
        """Take a new epoch for the show and load it. With ``own_actor`` set, only if the show's placement
        is that: otherwise ``Moved``, with no epoch taken. ``UnknownShow`` if there is no such show."""
        ...

    async def commit(
        self,
        show_id: str,
        epoch: int,
        events: Sequence[Event],
        extras: CommitExtras | None = None,
        close_show: bool = False,
    ) -> None:
        """Write ``events`` (in order) in one transaction, or nothing. ``StaleEpoch`` if a newer activation
        owns the show; any other exception means the outcome is unknown to the caller."""
        ...

    async def place(self, show_id: str, epoch: int, own_actor: bool) -> bool:
        """Record where the show runs from now on, if ``epoch`` is still its current one."""
        ...

    async def discard_connection(self) -> None:
        """Forget a connection a failure of unknown outcome may have left broken."""
        ...


class SharedJournals(Protocol):
    """What the shows of one host share (a connection pool, one transaction for the batches of many
    shows): it hands each hosted show a journal of its own."""

    @property
    def transactions(self) -> int:
        """Transactions committed so far (for operators and tests)."""
        ...

    @property
    def batches(self) -> int:
        """Show batches committed in them."""
        ...

    async def open(self) -> None:
        """Ready the shared resources; called once, before the first show's activation completes."""
        ...

    def journal(self) -> Journal:
        """A hosted show's journal."""
        ...


class Journals(Protocol):
    """Makes journals in the actor's process; picklable, chosen by whoever configures the actors."""

    def own(self) -> Journal:
        """The journal of a show in a process of its own."""
        ...

    def shared(self, connections: int) -> SharedJournals:
        """What the shows of one host share, with at most ``connections`` connections."""
        ...
