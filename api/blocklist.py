"""Client networks the API refuses (403) before any route runs; admins edit the list through the API.

The list lives in PostgreSQL (``blocked_networks``) so it survives restarts and every API process sees
it; each process keeps a copy that it refreshes at most every few seconds, and at once after an edit it
made itself. If PostgreSQL is unreachable the last copy keeps being enforced. This runs before every
request, so a due refresh is one query in the background that requests do not wait for (one at a time:
a crowd must not turn each refresh into a query per request); only the first load, and the one after an
edit made here, are waited for.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass

from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem
from persistence.database import Database

log = logging.getLogger("booking.blocklist")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class BlockedNetwork:
    network: str
    reason: str
    created_by: str | None


class BlockList:
    def __init__(self, database: Database, refresh_seconds: float = 5.0) -> None:
        self._db = database
        self._refresh = refresh_seconds
        self._networks: tuple[Network, ...] = ()
        self._loaded_at = float("-inf")
        self._current = False  # False until loaded, and again after an edit made here
        self._generation = 0  # bumped by every edit made here
        self._reloading: asyncio.Task[None] | None = None

    async def _networks_now(self) -> tuple[Network, ...]:
        due = time.monotonic() - self._loaded_at >= self._refresh
        if self._reloading is None and (due or not self._current):
            self._reloading = asyncio.get_running_loop().create_task(self._reload())
        if not self._current and self._reloading is not None:
            await asyncio.shield(self._reloading)
        return self._networks

    async def _reload(self) -> None:
        try:
            while True:
                generation = self._generation
                try:
                    self._networks = tuple(ipaddress.ip_network(b.network) for b in await self.entries())
                except Exception as exc:
                    log.warning("could not refresh the block list; keeping the last copy: %r", exc)
                if generation == self._generation:
                    break  # no edit was made here while reading: this copy is current
        finally:
            self._loaded_at = time.monotonic()
            self._current = True
            self._reloading = None

    def _invalidate(self) -> None:
        """An edit made here: the next request waits for a fresh copy."""
        self._loaded_at = float("-inf")
        self._current = False
        self._generation += 1

    async def blocks(self, host: str | None) -> bool:
        if not host:
            return False
        networks = await self._networks_now()
        if not networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in networks)

    async def entries(self) -> list[BlockedNetwork]:
        async with self._db.session() as session:
            rows = await session.execute(
                text("SELECT network::text, reason, created_by FROM blocked_networks ORDER BY network")
            )
            return [BlockedNetwork(*r) for r in rows]

    async def add(self, network: Network, reason: str, created_by: str) -> BlockedNetwork:
        async with self._db.session() as session:
            await session.execute(
                text(
                    "INSERT INTO blocked_networks (network, reason, created_by) VALUES (CAST(:n AS cidr), :r, :c) "
                    "ON CONFLICT (network) DO UPDATE SET reason = EXCLUDED.reason, created_by = EXCLUDED.created_by"
                ),
                {"n": str(network), "r": reason, "c": created_by},
            )
        self._invalidate()
        return BlockedNetwork(str(network), reason, created_by)

    async def remove(self, network: Network) -> bool:
        async with self._db.session() as session:
            result = await session.execute(
                text("DELETE FROM blocked_networks WHERE network = CAST(:n AS cidr) RETURNING network"),
                {"n": str(network)},
            )
            removed = result.first() is not None
        self._invalidate()
        return removed


class BlockListMiddleware:
    """Pure ASGI: refuses blocked clients with a 403 problem before routing."""

    def __init__(self, app: ASGIApp, blocklist: BlockList) -> None:
        self.app = app
        self.blocklist = blocklist

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            if await self.blocklist.blocks(client[0] if client else None):
                response = problem(403, "requests from this network are blocked", "network-blocked")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


__all__ = ["BlockList", "BlockListMiddleware", "BlockedNetwork"]
