"""Search (no token): movies by words and filters, ranked; shows by movie, theater, city and date. Paginated."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Db
from api.problems import problem_responses
from api.routes.catalog import show_out
from api.schemas import EntityId, IsoDate, MovieOut, ShowOut
from persistence import search

router = APIRouter(prefix="/api/v1", tags=["search"], responses=problem_responses())

# Words people can type: no NUL (PostgreSQL refuses it in text) or other control characters.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

Limit = Annotated[int, Query(ge=1, le=100, description="page size")]
Offset = Annotated[int, Query(ge=0, le=10_000, description="hits to skip")]
City = Annotated[
    str | None, Query(max_length=100, pattern=PRINTABLE, description="city of the theater, case-insensitive")
]


class MovieHitOut(MovieOut):
    score: float = Field(description="relevance: ≥ 1 for an exact title, otherwise in [0, 1); 0 without `q`")


class MovieSearchPage(BaseModel):
    items: list[MovieHitOut]
    total: int = Field(description="hits over all pages")
    limit: int
    offset: int


class ShowSearchPage(BaseModel):
    items: list[ShowOut]
    total: int = Field(description="hits over all pages")
    limit: int
    offset: int


@router.get("/search/movies", response_model=MovieSearchPage)
async def search_movies(
    db: Db,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=PRINTABLE,
            description="words to find in the title, description, language or genres; a title with a typo is "
            "still found",
        ),
    ] = None,
    city: City = None,
    language: Annotated[str | None, Query(max_length=50, pattern=PRINTABLE, description="case-insensitive")] = None,
    genre: Annotated[str | None, Query(max_length=50, pattern=PRINTABLE, description="case-insensitive")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> MovieSearchPage:
    """Movies matching `q`, best first: an exact title first, then full-text rank blended with title
    similarity. Without `q`, in title order. `city` keeps movies with a show on sale in that city."""
    async with db.session() as session:
        hits, total = await search.search_movies(session, q, city, language, genre, limit, offset)
    return MovieSearchPage(
        items=[MovieHitOut.model_validate({**asdict(m), "score": score}) for m, score in hits],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/search/shows", response_model=ShowSearchPage)
async def search_shows(
    db: Db,
    movie_id: EntityId | None = None,
    theater_id: EntityId | None = None,
    city: City = None,
    day: Annotated[
        IsoDate | None, Query(alias="date", description="shows starting on this UTC day (YYYY-MM-DD)")
    ] = None,
    on_sale: Annotated[bool, Query(description="only shows on sale and not yet started")] = True,
    limit: Limit = 20,
    offset: Offset = 0,
) -> ShowSearchPage:
    """Shows matching every given filter, earliest first."""
    async with db.session() as session:
        shows, total = await search.search_shows(session, movie_id, theater_id, city, day, on_sale, limit, offset)
    return ShowSearchPage(items=[show_out(s) for s in shows], total=total, limit=limit, offset=offset)
