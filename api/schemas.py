"""Request and response bodies of the HTTP API, with the bounds that keep bad input out.

Ids are UUID strings; seat ids look like ``A12``; lists and strings have upper bounds so an oversized
payload is refused with a 4xx before it reaches a show actor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Header, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

MAX_SEATS_PER_REQUEST = 50

ShowId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")]
EntityId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{36}$")]
SeatId = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,3}[0-9]{1,3}$")]
RowLabel = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,3}$")]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,29}$")]
# Text that PostgreSQL can store and people can read: no NUL or other control characters but tab/newline.
PRINTABLE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def text(max_length: int, min_length: int = 1) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=PRINTABLE)


Name = Annotated[str, text(200)]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a timezone, e.g. 2026-12-01T18:30:00Z")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- accounts -------------------------------------------------------------------------------------------


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=8, max_length=128)
    name: Name | None = None


class AccountOut(BaseModel):
    id: str
    email: str
    name: str | None = None
    role: str = "customer"


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int


# -- catalog ----------------------------------------------------------------------------------------------


class MovieIn(Strict):
    title: Name
    description: Annotated[str, text(5000, min_length=0)] = ""
    duration_minutes: int = Field(ge=1, le=1000)
    language: Annotated[str, text(50)] | None = None
    genres: list[Annotated[str, text(50)]] = Field(default_factory=list, max_length=20)


class MovieOut(BaseModel):
    id: str
    title: str
    description: str
    duration_minutes: int
    language: str | None
    genres: list[str]


class TheaterIn(Strict):
    name: Name
    city: Annotated[str, text(100)]
    address: Annotated[str, text(500)]


class TheaterOut(BaseModel):
    id: str
    name: str
    city: str
    address: str


class RowIn(Strict):
    row: RowLabel
    seats: int = Field(ge=1, le=100)
    category: Category = "standard"


class ScreenIn(Strict):
    name: Name
    rows: list[RowIn] = Field(min_length=1, max_length=60)


class ScreenOut(BaseModel):
    id: str
    theater_id: str
    name: str
    seats: list[str]


class ShowIn(Strict):
    movie_id: EntityId
    screen_id: EntityId
    starts_at: UtcDatetime
    prices: dict[Category, Annotated[float, Field(ge=0, le=1_000_000)]] = Field(min_length=1, max_length=20)
    hold_ttl_seconds: int | None = Field(default=None, ge=1, le=3600)
    sales_open_at: UtcDatetime | None = Field(default=None, description="on sale from (default: at once)")
    sales_close_at: UtcDatetime | None = Field(
        default=None, description="sales stop at (default: `BOOKING_SALES_CUTOFF_MINUTES` before the start)"
    )


class ShowOut(BaseModel):
    id: str
    movie_id: str
    theater_id: str
    screen_id: str
    starts_at: datetime
    prices: dict[str, float]
    hold_ttl_seconds: int
    status: str
    on_sale: bool
    sales_open_at: datetime | None = None
    sales_close_at: datetime | None = None


class SeatOut(BaseModel):
    id: str
    row: str
    number: int
    status: str
    category: str
    price: float


class SeatMapOut(BaseModel):
    show_id: str
    seats: list[SeatOut]
    counts: dict[str, int]
    as_of: datetime
    source: str = Field(description="`cache` (published by the show's actor) or `database` (fallback)")


# -- the seed (v0) API ----------------------------------------------------------------------------------


class SeedMovieOut(BaseModel):
    movie_id: str
    title: str
    details: str
    length_minutes: int


class SeedTheaterOut(BaseModel):
    name: str
    address: str


class SeedAvailableOut(BaseModel):
    event_id: str
    available_seat: list[str]


class SeedHoldIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    movie_id: EntityId
    theater_id: EntityId
    selected_seat: list[SeatId] = Field(min_length=1, max_length=MAX_SEATS_PER_REQUEST)
    event_id: ShowId | None = None


class SeedHoldOut(BaseModel):
    hold_end_time: datetime
    event_id: str
    selected_seat: list[str]
    price: float
    hold_id: str


class PaymentInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    card_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9 ]{12,23}$")]

    @property
    def digits(self) -> str:
        return self.card_number.replace(" ", "")


class SeedPaymentIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_id: ShowId
    paymentInfo: PaymentInfo


class SeedPaymentOut(BaseModel):
    status: str
    booking_id: str
    selected_seat: list[str]
    amount: float
    price_breakdown: dict[str, float] | None = None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat a request safely: the same key returns the first answer (IETF draft semantics). "
        "A key is remembered from its first request for 24 hours by default (the server's "
        "BOOKING_IDEMPOTENCY_KEY_TTL_HOURS); after that the same key starts a new request.",
    ),
]


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as a JSON response, serialised once by pydantic.

    Returning the model itself makes FastAPI validate it a second time against the route's
    ``response_model`` before serialising; the hot routes (holds) return this instead and keep
    ``response_model`` for the OpenAPI document. The model was validated when it was built."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")
