"""A demo catalog for an empty database, so a fresh ``python main.py`` has something to book.

Four movies, three theaters in two cities, screens of realistic sizes (a 150-seat and a 300-seat
auditorium) with price categories (front rows standard, middle premium, back recliners), and shows at
usual times over the next three days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from string import ascii_uppercase

from persistence import catalog
from persistence.catalog import RowSpec
from persistence.database import Database

MOVIES = [
    (
        "The Last Projectionist",
        "A night-shift projectionist finds a reel that changes the ending of every film.",
        128,
        "English",
        ["drama", "mystery"],
    ),
    (
        "Monsoon Express",
        "Strangers on a delayed train across the Western Ghats race a flood to Mumbai.",
        141,
        "Hindi",
        ["action", "thriller"],
    ),
    (
        "Kite Season",
        "Two rival families, one rooftop, and the biggest kite festival in Ahmedabad.",
        112,
        "Gujarati",
        ["comedy", "family"],
    ),
    (
        "Orbitals",
        "The crew of a failing space station has ninety minutes to decide who goes home.",
        97,
        "English",
        ["sci-fi", "thriller"],
    ),
]

THEATERS = [
    ("Galaxy Multiplex", "Mumbai", "12 Linking Road, Bandra West, Mumbai 400050"),
    ("Regal Talkies", "Mumbai", "Colaba Causeway, Colaba, Mumbai 400005"),
    ("Lakeside Cinemas", "Bengaluru", "80 Feet Road, Koramangala, Bengaluru 560034"),
]

PRICES = {"standard": Decimal("180.00"), "premium": Decimal("280.00"), "recliner": Decimal("550.00")}


def _rows(count: int, width: int) -> list[RowSpec]:
    rows = []
    for index in range(count):
        category = "standard" if index < count // 3 else "recliner" if index >= count - 2 else "premium"
        rows.append(RowSpec(ascii_uppercase[index], width if category != "recliner" else width // 2, category))
    return rows


SCREENS = [("Audi 1", _rows(15, 20)), ("Audi 2", _rows(10, 16))]
SHOW_TIMES = [(10, 30), (14, 0), (18, 30), (21, 45)]


async def seed_if_empty(database: Database, hold_ttl_seconds: int, days: int = 3) -> bool:
    """Create the demo catalog if there are no movies yet. Returns whether it did."""
    async with database.session() as session:
        if await catalog.count_movies(session) > 0:
            return False
        movies = [await catalog.create_movie(session, *m) for m in MOVIES]
        now = datetime.now(UTC)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for t_index, (name, city, address) in enumerate(THEATERS):
            theater = await catalog.create_theater(session, name, city, address)
            for s_index, (screen_name, rows) in enumerate(SCREENS):
                screen = await catalog.create_screen(session, theater.id, screen_name, rows)
                for day in range(days):
                    for h_index, (hour, minute) in enumerate(SHOW_TIMES):
                        starts_at = today + timedelta(days=day, hours=hour, minutes=minute)
                        if starts_at <= now + timedelta(minutes=30):
                            continue
                        movie = movies[(t_index + s_index + h_index + day) % len(movies)]
                        prices = {c: PRICES[c] for c in screen.categories}
                        await catalog.create_show(session, movie.id, screen, starts_at, prices, hold_ttl_seconds)
        return True
