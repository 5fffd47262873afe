"""Search over HTTP: ranked movie search with typo tolerance, filters, pagination; show search.

The database is shared by every test of the session, so each test makes its own movies, with a random
word in their titles and descriptions, and asserts on their positions relative to each other.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from settings import libpq_url
from tests.api_client import admin_headers
from tests.conftest import Backing, Service

MOVIES = "/api/v1/search/movies"
SHOWS = "/api/v1/search/shows"


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


@pytest.fixture
def admin(client: httpx.Client) -> dict[str, str]:
    return admin_headers(client)


def word() -> str:
    """A random word no other movie has (letters only, so every parser keeps it whole)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


def movie(
    client: httpx.Client,
    admin: dict[str, str],
    title: str,
    description: str = "",
    language: str | None = None,
    genres: tuple[str, ...] = (),
) -> str:
    body: dict[str, Any] = {"title": title, "description": description, "duration_minutes": 100}
    body.update({"language": language} if language else {})
    response = client.post("/api/v1/admin/movies", headers=admin, json={**body, "genres": list(genres)})
    assert response.status_code == 201, response.text
    movie_id: str = response.json()["id"]
    return movie_id


def screen(client: httpx.Client, admin: dict[str, str], city: str) -> tuple[str, str]:
    """A theater in ``city`` with one small screen: (theater id, screen id)."""
    theater = client.post(
        "/api/v1/admin/theaters", headers=admin, json={"name": "Search Cinema", "city": city, "address": "1 Road"}
    )
    assert theater.status_code == 201, theater.text
    theater_id: str = theater.json()["id"]
    created = client.post(
        f"/api/v1/admin/theaters/{theater_id}/screens",
        headers=admin,
        json={"name": "S1", "rows": [{"row": "A", "seats": 4}]},
    )
    assert created.status_code == 201, created.text
    screen_id: str = created.json()["id"]
    return theater_id, screen_id


def show(client: httpx.Client, admin: dict[str, str], movie_id: str, screen_id: str, starts_at: datetime) -> str:
    body = {"movie_id": movie_id, "screen_id": screen_id, "starts_at": starts_at.isoformat(), "prices": {"standard": 1}}
    response = client.post("/api/v1/admin/shows", headers=admin, json=body)
    assert response.status_code == 201, response.text
    show_id: str = response.json()["id"]
    return show_id


def cancel_show(backing: Backing, show_id: str) -> None:
    """Cancel a show straight in PostgreSQL (the API has no route for it)."""
    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        conn.execute("UPDATE shows SET status = 'cancelled' WHERE id = %s", (show_id,))


def start_show(backing: Backing, show_id: str) -> None:
    """Move a show's start into the past straight in PostgreSQL (the API refuses past starts)."""
    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        conn.execute("UPDATE shows SET starts_at = now() - interval '1 hour' WHERE id = %s", (show_id,))


def search(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert (page["limit"], page["offset"]) == (params.get("limit", 20), params.get("offset", 0))
    return page


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_exact_title_ranks_first_among_similar_titles(client: httpx.Client, admin: dict[str, str]) -> None:
    w = word()
    # Created in the reverse of the expected order, so insertion order cannot explain the ranking.
    in_description = movie(client, admin, f"Paper Skies {w}", f"Set in kite season {w}, over the rooftops.")
    sequel_like = movie(client, admin, f"Return to Kite Season {w}")
    sequel = movie(client, admin, f"Kite Season {w} Returns", "The rivals are back.")
    exact = movie(client, admin, f"Kite Season {w}", "Two rival families and one rooftop.", "Gujarati", ("comedy",))

    page = search(client, MOVIES, q=f"kite SEASON {w.upper()}")
    assert ids(page)[0] == exact
    assert page["items"][0]["title"] == f"Kite Season {w}"
    assert page["items"][0]["language"] == "Gujarati"
    assert page["items"][0]["genres"] == ["comedy"]
    ranked = [i for i in ids(page) if i in {exact, sequel, sequel_like, in_description}]
    assert set(ranked) == {exact, sequel, sequel_like, in_description}
    assert ranked[0] == exact
    assert ranked[-1] == in_description, "a title match outranks a description match"
    scores = [item["score"] for item in page["items"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] >= 1 > scores[1]


def test_a_title_with_one_typo_is_found(client: httpx.Client, admin: dict[str, str]) -> None:
    w = word()
    orbitals = movie(client, admin, f"Orbitals {w}", "A failing space station.")
    monsoon = movie(client, admin, "Monsoon Express", f"A delayed train, a flood, {w}.")
    movie(client, admin, f"Moonrise {w}", "Unrelated.")

    # Full-text search alone finds nothing here: the misspelt word is in no document.
    assert ids(search(client, MOVIES, q=f"Orbitls {w}"))[0] == orbitals
    typo = search(client, MOVIES, q="Monsoon Exprss", limit=100)
    assert monsoon in ids(typo)
    assert search(client, MOVIES, q=word())["total"] == 0


def test_description_genre_and_language_words_match_and_filter(client: httpx.Client, admin: dict[str, str]) -> None:
    w, in_description, genre, language = word(), word(), word(), word()
    harbour = movie(
        client,
        admin,
        f"Quiet Harbour {w}",
        f"A lighthouse keeper called {in_description} waits out the storm.",
        language=language,
        genres=("Drama", genre),
    )
    other = movie(client, admin, f"Loud Harbour {w}", "Another port.", language="English", genres=("comedy",))

    for q in (in_description, genre.upper(), language, f"Lighthouse {in_description}"):
        assert ids(search(client, MOVIES, q=q)) == [harbour], q
    assert ids(search(client, MOVIES, language=language.upper())) == [harbour]
    assert ids(search(client, MOVIES, genre=genre.title())) == [harbour]
    assert set(ids(search(client, MOVIES, q=f"harbour {w}"))) == {harbour, other}
    assert ids(search(client, MOVIES, q=f"harbour {w}", genre="drama")) == [harbour]
    assert ids(search(client, MOVIES, q=f"harbour {w}", language="ENGLISH")) == [other]
    assert ids(search(client, MOVIES, q=f"harbour {w}", genre="horror")) == []


def test_city_filter_keeps_movies_with_a_show_on_sale_there(
    client: httpx.Client, admin: dict[str, str], backing: Backing
) -> None:
    w = word()
    city = f"Town{w}"
    _, here = screen(client, admin, city)
    _, elsewhere = screen(client, admin, f"Elsewhere{w}")
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    on_sale = movie(client, admin, f"Playing {w}")
    show(client, admin, on_sale, here, tomorrow)
    other_city = movie(client, admin, f"Playing Elsewhere {w}")
    show(client, admin, other_city, elsewhere, tomorrow)
    cancelled = movie(client, admin, f"Cancelled {w}")
    cancel_show(backing, show(client, admin, cancelled, here, tomorrow))
    started = movie(client, admin, f"Started {w}")
    start_show(backing, show(client, admin, started, here, tomorrow))
    movie(client, admin, f"No Shows {w}")

    page = search(client, MOVIES, city=city.upper())
    assert (ids(page), page["total"]) == ([on_sale], 1)
    assert ids(search(client, MOVIES, q=w, city=city)) == [on_sale]
    assert ids(search(client, MOVIES, q=w, city=f"Elsewhere{w}")) == [other_city]
    assert search(client, MOVIES, q=w)["total"] == 5


def test_pages_are_consistent(client: httpx.Client, admin: dict[str, str]) -> None:
    w = word()
    genre = f"pg{w}"
    titles = [f"{w} {name}" for name in ("Echo", "alpha", "Delta", "bravo", "Charlie")]
    made = {movie(client, admin, t, genres=(genre,)): t for t in titles}

    pages = [search(client, MOVIES, genre=genre, limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    listed = [item["title"] for p in pages for item in p["items"]]
    assert listed == sorted(titles, key=str.lower), "without q: title order"
    assert all(item["score"] == 0 for p in pages for item in p["items"])
    beyond = search(client, MOVIES, genre=genre, limit=2, offset=5)
    assert (beyond["items"], beyond["total"]) == ([], 5)

    ranked = [search(client, MOVIES, q=w, limit=2, offset=offset) for offset in (0, 2, 4)]
    assert {p["total"] for p in ranked} == {5}
    found = [i for p in ranked for i in ids(p)]
    assert sorted(found) == sorted(made)
    scores = [item["score"] for p in ranked for item in p["items"]]
    assert scores == sorted(scores, reverse=True)


def test_show_search_by_city_date_movie_and_theater(
    client: httpx.Client, admin: dict[str, str], backing: Backing
) -> None:
    w = word()
    city = f"Showtown{w}"
    theater_a, screen_a = screen(client, admin, city)
    theater_b, screen_b = screen(client, admin, city)
    _, screen_c = screen(client, admin, f"Faraway{w}")
    first = movie(client, admin, f"First {w}")
    second = movie(client, admin, f"Second {w}")
    day = (datetime.now(UTC) + timedelta(days=3)).date()

    def at(d: date, hour: int, minute: int) -> datetime:
        return datetime.combine(d, time(hour, minute), UTC)

    late = show(client, admin, first, screen_a, at(day, 23, 30))
    early = show(client, admin, second, screen_b, at(day, 0, 30))
    noon = show(client, admin, first, screen_b, at(day, 12, 0))
    cancelled = show(client, admin, second, screen_a, at(day, 18, 0))
    cancel_show(backing, cancelled)
    show(client, admin, first, screen_a, at(day - timedelta(days=1), 23, 50))
    show(client, admin, first, screen_a, at(day + timedelta(days=1), 0, 10))
    show(client, admin, first, screen_c, at(day, 12, 0))

    page = search(client, SHOWS, city=city.lower(), date=day.isoformat())
    assert (ids(page), page["total"]) == ([early, noon, late], 3)
    assert all(item["on_sale"] for item in page["items"])
    assert ids(search(client, SHOWS, city=city, date=day.isoformat(), on_sale=False)) == [early, noon, cancelled, late]
    assert ids(search(client, SHOWS, movie_id=first, city=city, date=day.isoformat())) == [noon, late]
    assert ids(search(client, SHOWS, theater_id=theater_a, date=day.isoformat())) == [late]
    assert ids(search(client, SHOWS, theater_id=theater_b, movie_id=second)) == [early]
    assert search(client, SHOWS, movie_id=first)["total"] == 5
    one = search(client, SHOWS, city=city, date=day.isoformat(), limit=1, offset=1)
    assert (ids(one), one["total"]) == ([noon], 3)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (MOVIES, {"limit": 0}),
        (MOVIES, {"limit": 101}),
        (MOVIES, {"offset": -1}),
        (MOVIES, {"offset": 10_001}),
        (MOVIES, {"limit": "ten"}),
        (MOVIES, {"q": "x" * 201}),
        (MOVIES, {"q": "nul\x00byte"}),
        (MOVIES, {"city": "c" * 101}),
        (MOVIES, {"genre": "g" * 51}),
        (SHOWS, {"date": "2026-02-30"}),
        (SHOWS, {"date": "tomorrow"}),
        (SHOWS, {"movie_id": "not-an-id"}),
        (SHOWS, {"theater_id": "1; DROP TABLE shows"}),
        (SHOWS, {"on_sale": "maybe"}),
        (SHOWS, {"limit": 1000}),
    ],
)
def test_bad_parameters_are_422_problems(client: httpx.Client, path: str, params: dict[str, Any]) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 422
