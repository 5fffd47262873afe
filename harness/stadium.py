"""One stadium layout that the benchmarks, the tests and the web app's end-to-end tests all build.

The default venue has 100,000 places: 80 seated blocks of 25 rows x 40 seats (80,000 seats) and a
standing zone of 20,000 places. Blocks ``101``-``140`` are the lower tier (category ``premium``), ``201``-
``240`` the upper tier (``standard``); the standing zone ``FLA`` is category ``floor``. Seat ids follow the
venue form: ``112-K-14``, standing places ``FLA-1`` … ``FLA-20000``.

The same venue comes in three forms, so every layer sees the same places:

- ``stadium_sections``: the JSON sections of ``POST /api/v1/admin/theaters/{id}/screens`` (api/schemas.py
  ``SectionIn``); ``create_stadium_show`` makes a show of it through the API;
- ``section_specs``: ``persistence.catalog.SectionSpec``, for code that writes the catalog directly;
- ``seat_specs``: the pure core's ``SeatSpec`` list (places from ``persistence.catalog.venue_layout``, priced
  with ``STADIUM_PRICES``), for ``actors.seat_map_core.SeatMap`` without a database.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from actors.seat_map_core import SeatSpec
from harness.client import ShowFixture, create_show
from persistence.catalog import RowSpec, SectionSpec, venue_layout

STADIUM_PRICES: dict[str, float] = {"premium": 120.0, "standard": 80.0, "floor": 60.0}
BLOCKS_PER_TIER = 40


@dataclass(frozen=True, slots=True)
class Stadium:
    """The shape of a stadium: ``blocks`` seated blocks of ``rows`` x ``seats_per_row``, and a standing
    zone ``standing_code`` of ``standing`` places (none if 0)."""

    blocks: int = 80
    rows: int = 25
    seats_per_row: int = 40
    standing: int = 20_000
    standing_code: str = "FLA"

    @property
    def capacity(self) -> int:
        return self.blocks * self.rows * self.seats_per_row + self.standing

    @property
    def seated(self) -> int:
        return self.blocks * self.rows * self.seats_per_row

    def block_codes(self) -> list[str]:
        """``101``…``140`` (lower tier), then ``201``…``240`` (upper), ``301``… and so on."""
        return [f"{100 * (1 + i // BLOCKS_PER_TIER) + i % BLOCKS_PER_TIER + 1}" for i in range(self.blocks)]

    @staticmethod
    def category_of(code: str) -> str:
        return "premium" if code.startswith("1") else "standard"


def row_label(index: int) -> str:
    """``A``…``Z``, then ``AA``, ``AB``…: the API's row labels (``[A-Z]{1,3}``)."""
    letters = string.ascii_uppercase
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = letters[rest] + label
    return label


def stadium_sections(stadium: Stadium = Stadium()) -> list[dict[str, Any]]:
    """The venue as the screens endpoint takes it (``{"name": …, "sections": stadium_sections()}``)."""
    sections: list[dict[str, Any]] = [
        {
            "code": code,
            "name": f"Block {code}",
            "category": stadium.category_of(code),
            "rows": [{"row": row_label(r), "seats": stadium.seats_per_row} for r in range(stadium.rows)],
        }
        for code in stadium.block_codes()
    ]
    if stadium.standing:
        sections.append(
            {
                "code": stadium.standing_code,
                "name": "Floor A",
                "kind": "standing",
                "category": "floor",
                "capacity": stadium.standing,
            }
        )
    return sections


def section_specs(stadium: Stadium = Stadium()) -> list[SectionSpec]:
    """The venue as ``persistence.catalog.create_screen(sections=…)`` takes it."""
    specs = [
        SectionSpec(
            code,
            f"Block {code}",
            stadium.category_of(code),
            tuple(RowSpec(row_label(r), stadium.seats_per_row, stadium.category_of(code)) for r in range(stadium.rows)),
        )
        for code in stadium.block_codes()
    ]
    if stadium.standing:
        specs.append(SectionSpec(stadium.standing_code, "Floor A", "floor", capacity=stadium.standing, standing=True))
    return specs


def seat_specs(stadium: Stadium = Stadium(), prices: dict[str, float] | None = None) -> list[SeatSpec]:
    """The venue's places for the pure core, in display order, priced by category."""
    price = {cat: Decimal(str(p)) for cat, p in (prices or STADIUM_PRICES).items()}
    return [
        SeatSpec(s.seat_id, s.row, s.row_index, s.number, s.category, price[s.category], s.section, s.standing)
        for s in venue_layout(section_specs(stadium))
    ]


def create_stadium_show(
    client: httpx.Client,
    stadium: Stadium = Stadium(),
    starts_in: timedelta = timedelta(days=1),
    hold_ttl_seconds: int | None = None,
    sales_open_at: datetime | None = None,
    waiting_room: bool = False,
) -> ShowFixture:
    """A show on a new stadium venue, made through the admin API (``client`` on the service's base URL);
    its ``seats`` are every place id, standing places included."""
    return create_show(
        client,
        starts_in=starts_in,
        prices=dict(STADIUM_PRICES),
        hold_ttl_seconds=hold_ttl_seconds,
        sales_open_at=sales_open_at,
        waiting_room=waiting_room,
        sections=stadium_sections(stadium),
        names=("Final", "Stadium"),
    )
