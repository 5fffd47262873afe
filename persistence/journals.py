"""Which journal the show actors use: PostgreSQL's (``persistence/show_store.py``), as ``main.py`` chooses.

``PostgresJournals`` is the ``actors.journal.Journals`` factory: small and picklable, so it travels in the
``ActorConfig`` to the Ray worker of a show's own actor or of a host, which makes its journals there. A show
in a process of its own gets a ``ShowStore`` with a connection of its own; the shows of a host share one
pool and one ``GroupCommit`` (``PostgresHostJournals``), each with a ``ShowStore`` borrowing from them.
"""

from __future__ import annotations

from dataclasses import dataclass

from persistence.show_store import GroupCommit, ShowStore, show_pool


@dataclass(frozen=True, slots=True)
class PostgresJournals:
    database_url: str
    timeout_seconds: float

    def own(self) -> ShowStore:
        return ShowStore(self.database_url, self.timeout_seconds)

    def shared(self, connections: int) -> PostgresHostJournals:
        return PostgresHostJournals(self.database_url, self.timeout_seconds, connections)


class PostgresHostJournals:
    """The pool and group commit the shows of one host share (the pool opens on ``open``)."""

    def __init__(self, database_url: str, timeout_seconds: float, connections: int) -> None:
        self._url = database_url
        self._timeout_seconds = timeout_seconds
        self._pool = show_pool(database_url, timeout_seconds, connections)
        self._group = GroupCommit(self._pool)

    @property
    def transactions(self) -> int:
        return self._group.transactions

    @property
    def batches(self) -> int:
        return self._group.batches

    async def open(self) -> None:
        await self._pool.open()

    def journal(self) -> ShowStore:
        return ShowStore(self._url, self._timeout_seconds, pool=self._pool, group=self._group)
