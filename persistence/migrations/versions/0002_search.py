"""movie and show search

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000

Ranked full-text search over movies inside PostgreSQL, with typo tolerance from pg_trgm:

* ``movie_search_document(...)``: the weighted ``tsvector`` of a movie (title A, language and genres B,
  description C) on the ``simple`` configuration (no stemming, no stop words: titles are names). It is a
  SQL function declared IMMUTABLE because a generated column may only call immutable functions and
  ``array_to_string`` is merely STABLE in general (it is immutable for ``varchar[]``).
* ``movies.search_document``: that document, a stored generated column, with a GIN index.
* ``ix_movies_title_trgm``: a GIN trigram index on ``lower(title)`` for the ``%>`` (word similarity)
  operator, which finds titles typed with a typo.
* ``ix_shows_starts_at``: show listings by date, and upcoming shows in start order, without a sort.

The column and indexes are declared in ``persistence/models.py`` too, so autogenerate sees no difference.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(
        """
        CREATE FUNCTION movie_search_document(
            title text, language text, genres varchar[], description text
        ) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A')
                || setweight(
                    to_tsvector(
                        'simple'::regconfig, coalesce(language, '') || ' ' || array_to_string(genres, ' ')
                    ),
                    'B'
                )
                || setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')
        $$
        """
    )
    op.execute(
        "ALTER TABLE movies ADD COLUMN search_document tsvector "
        "GENERATED ALWAYS AS (movie_search_document(title, language, genres, description)) STORED"
    )
    op.execute("CREATE INDEX ix_movies_search_document ON movies USING gin (search_document)")
    op.execute("CREATE INDEX ix_movies_title_trgm ON movies USING gin (lower(title) gin_trgm_ops)")
    op.execute("CREATE INDEX ix_shows_starts_at ON shows (starts_at)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_shows_starts_at")
    op.execute("DROP INDEX ix_movies_title_trgm")
    op.execute("DROP INDEX ix_movies_search_document")
    op.execute("ALTER TABLE movies DROP COLUMN search_document")
    op.execute("DROP FUNCTION movie_search_document(text, text, varchar[], text)")
    # pg_trgm stays: other objects may have come to depend on it, and it is harmless when unused.
