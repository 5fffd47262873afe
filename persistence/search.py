"""Search over the catalog, inside PostgreSQL: ranked full-text search for movies, filtered show listings.

Movies are matched by their ``search_document`` (a weighted ``tsvector``: title A, language and genres B,
description C, on the ``simple`` configuration; see migration 0002) and, for typos, by trigram word
similarity of the query to the title (pg_trgm, GIN index on ``lower(title)``). The score of a hit is

    1 if the title equals the query (case-insensitively), else 0
    + 0.5 · ts_rank_cd(document, query) normalised to [0, 1)
    + 0.25 · (word_similarity(query, title) + similarity(query, title))

so an exact title (score ≥ 1) ranks above every other hit (score < 1), and among the rest a title match
beats a description match and a close title beats a longer one. Without a query, movies come in
alphabetical order with score 0.

Both searches return one page and the total number of hits, counted in the same statement. Every value
reaches PostgreSQL as a bound parameter; optional filters are ``CAST(:x AS ...) IS NULL OR ...``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence.catalog import MovieInfo, ShowInfo, movie_info, show_info

# pg_trgm's word similarity (0..1) a title needs to match a query that full-text search missed: one typo
# in a word of five or more letters stays above it ("Orbitls" → "Orbitals" 0.62, "Monsoon Exprss" →
# "Monsoon Express" 0.8), unrelated titles are far below it.
MIN_WORD_SIMILARITY = 0.5

_SET_WORD_SIMILARITY = text("SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true)")

_MOVIES = text(
    """
    WITH hits AS (
        SELECT m.id, m.title, m.description, m.duration_minutes, m.language, m.genres,
               CASE WHEN CAST(:q AS text) IS NULL THEN 0.0
                    ELSE CAST(
                        CASE WHEN lower(m.title) = lower(:q) THEN 1.0 ELSE 0.0 END
                        + 0.5 * ts_rank_cd(m.search_document, plainto_tsquery('simple', :q), 32)
                        + 0.25 * (word_similarity(lower(:q), lower(m.title)) + similarity(lower(:q), lower(m.title)))
                        AS double precision)
               END AS score
        FROM movies AS m
        WHERE (
                CAST(:q AS text) IS NULL
                OR m.search_document @@ plainto_tsquery('simple', :q)
                OR lower(m.title) %> lower(:q)
            )
            AND (CAST(:language AS text) IS NULL OR lower(m.language) = lower(:language))
            AND (
                CAST(:genre AS text) IS NULL
                OR EXISTS (SELECT 1 FROM unnest(m.genres) AS g(name) WHERE lower(g.name) = lower(:genre))
            )
            AND (
                CAST(:city AS text) IS NULL
                OR EXISTS (
                    SELECT 1 FROM shows AS s JOIN theaters AS t ON t.id = s.theater_id
                    WHERE s.movie_id = m.id AND s.status = 'on_sale' AND s.starts_at > now()
                        AND lower(t.city) = lower(:city)
                )
            )
    )
    SELECT c.total, p.id, p.title, p.description, p.duration_minutes, p.language, p.genres, p.score
    FROM (SELECT count(*) AS total FROM hits) AS c
    LEFT JOIN LATERAL (
        SELECT * FROM hits ORDER BY score DESC, lower(title), id LIMIT :limit OFFSET :offset
    ) AS p ON true
    """
)

_SHOWS = text(
    """
    WITH hits AS (
        SELECT s.id, s.movie_id, s.theater_id, s.screen_id, s.starts_at, s.prices, s.hold_ttl_seconds, s.status,
               s.sales_open_at, s.sales_close_at, s.waiting_room, s.reentry
        FROM shows AS s JOIN theaters AS t ON t.id = s.theater_id
        WHERE (CAST(:movie_id AS text) IS NULL OR s.movie_id = :movie_id)
            AND (CAST(:theater_id AS text) IS NULL OR s.theater_id = :theater_id)
            AND (CAST(:city AS text) IS NULL OR lower(t.city) = lower(:city))
            AND (CAST(:day_start AS timestamptz) IS NULL OR s.starts_at >= :day_start)
            AND (CAST(:day_end AS timestamptz) IS NULL OR s.starts_at < :day_end)
            AND (NOT :on_sale_only OR (s.status = 'on_sale' AND s.starts_at > now()
                AND (s.sales_open_at IS NULL OR s.sales_open_at <= now())
                AND (s.sales_close_at IS NULL OR s.sales_close_at > now())))
    )
    SELECT c.total, p.id, p.movie_id, p.theater_id, p.screen_id, p.starts_at, p.prices, p.hold_ttl_seconds,
           p.status, p.sales_open_at, p.sales_close_at, p.waiting_room, p.reentry
    FROM (SELECT count(*) AS total FROM hits) AS c
    LEFT JOIN LATERAL (
        SELECT * FROM hits ORDER BY starts_at, id LIMIT :limit OFFSET :offset
    ) AS p ON true
    """
)


def _clean(value: str | None) -> str | None:
    """Whitespace collapsed; blank means no filter."""
    if value is None:
        return None
    value = " ".join(value.split())
    return value or None


async def search_movies(
    session: AsyncSession,
    q: str | None,
    city: str | None,
    language: str | None,
    genre: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[MovieInfo, float]], int]:
    """One page of movies matching ``q`` and the filters, best first, each with its score; and the total.

    ``city`` keeps movies with a show on sale (not yet started) in a theater of that city. ``q``, ``city``,
    ``language`` and ``genre`` are case-insensitive. Sets pg_trgm's word similarity threshold for the rest
    of the caller's transaction.
    """
    q = _clean(q)
    if q is not None:
        await session.execute(_SET_WORD_SIMILARITY, {"threshold": str(MIN_WORD_SIMILARITY)})
    rows = (
        await session.execute(
            _MOVIES,
            {
                "q": q,
                "city": _clean(city),
                "language": _clean(language),
                "genre": _clean(genre),
                "limit": limit,
                "offset": offset,
            },
        )
    ).all()
    total = int(rows[0].total) if rows else 0
    hits = [(movie_info(r), float(r.score)) for r in rows if r.id is not None]
    return hits, total


async def search_shows(
    session: AsyncSession,
    movie_id: str | None,
    theater_id: str | None,
    city: str | None,
    day: date | None,
    on_sale_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[ShowInfo], int]:
    """One page of shows matching every given filter, earliest first; and the total.

    ``day`` keeps shows starting on that UTC day; ``on_sale_only`` keeps shows on sale and not yet started;
    ``city`` is case-insensitive.
    """
    day_start = datetime.combine(day, time.min, UTC) if day is not None else None
    rows = (
        await session.execute(
            _SHOWS,
            {
                "movie_id": movie_id,
                "theater_id": theater_id,
                "city": _clean(city),
                "day_start": day_start,
                "day_end": day_start + timedelta(days=1) if day_start is not None else None,
                "on_sale_only": on_sale_only,
                "limit": limit,
                "offset": offset,
            },
        )
    ).all()
    total = int(rows[0].total) if rows else 0
    return [show_info(r) for r in rows if r.id is not None], total
