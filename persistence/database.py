"""The API side's connection pool and unit of work: one ``Database`` per process, built by ``main.py``.

Its own module so that everything that only needs a session (repositories, notifications, payments, the
API) imports the pool without the catalog's repositories, and the catalog is only repositories.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.urls import sqlalchemy_url


class Database:
    """The API side's connection pool and unit of work."""

    def __init__(self, url: str, timeout_seconds: float, pool_size: int = 10) -> None:
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=timeout_seconds,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": max(1, int(timeout_seconds)),
                "options": f"-c statement_timeout={int(timeout_seconds * 1000)}",
            },
        )
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
