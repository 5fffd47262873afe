"""Request and response bodies of the HTTP API, with the bounds that keep bad input out.

Ids are UUID strings; seat ids look like ``A12``; lists and strings have upper bounds so an oversized
payload is refused with a 4xx before it reaches a show actor. The JSON Schema these types publish is what
clients are generated from and what schemathesis holds the service to, so it says what is accepted: seat
lists are sets (``uniqueItems``), dates are ISO 8601 dates and nothing else, and the per-request seat cap
is the deployment's setting (``per_request_cap``, applied to the OpenAPI document in ``api/app.py``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import email_validator
from fastapi import Header, Response
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic import Strict as StrictTypes
from pydantic.json_schema import SkipJsonSchema

from api.problems import replayed_problem

if TYPE_CHECKING:
    from booking.service import Answer

# The hard ceiling of a seat list in one request; the deployment's own cap (BOOKING_MAX_SEATS_PER_REQUEST,
# at most this) is what the OpenAPI document publishes (``per_request_cap``).
MAX_SEATS_PER_REQUEST = 50
# Marks the schema keywords that carry the per-request seat cap, for ``per_request_cap``.
PER_REQUEST_CAP = "x-per-request-cap"

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ShowId = Annotated[str, StringConstraints(pattern=UUID_PATTERN), Field(json_schema_extra={"format": "uuid"})]
EntityId = Annotated[str, StringConstraints(pattern=UUID_PATTERN), Field(json_schema_extra={"format": "uuid"})]
# A cinema seat (``A12``), a venue's seat (section, row, number: ``112-K-14``) or a standing place (zone and
# number: ``FLA-1234``). Section codes are 1-6 capitals or digits.
SEAT_ID_PATTERN = r"^([A-Z]{1,3}[0-9]{1,3}|[A-Z0-9]{1,6}-[A-Z]{1,3}-[0-9]{1,3}|[A-Z0-9]{1,6}-[0-9]{1,6})$"
SeatId = Annotated[str, StringConstraints(pattern=SEAT_ID_PATTERN)]
SectionCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,6}$")]
RowLabel = Annotated[str, StringConstraints(pattern=r"^[A-Z]{1,3}$")]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,29}$")]
# Text that PostgreSQL can store and people can read: no NUL or other control characters but tab/newline.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
PRINTABLE = rf"^[^{_CONTROL}]*$"
# Required text is stripped before it is measured, so the schema says it needs one character that is neither
# control nor whitespace (Unicode's: "\u0085" or "\u00a0" alone is blank, not one character of text).
PRINTABLE_NOT_BLANK = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"


def text(max_length: int, min_length: int = 1) -> StringConstraints:
    pattern = PRINTABLE_NOT_BLANK if min_length > 0 else PRINTABLE
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern)


Name = Annotated[str, text(200)]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a timezone, e.g. 2026-12-01T18:30:00Z")
    return value.astimezone(UTC)


# A request body's times arrive as ISO 8601 strings, which strict models would refuse (see ``Strict``).
def _iso_datetime(value: object) -> object:
    # pydantic would also take a number as seconds since 1970; the schema says an ISO 8601 string.
    if not isinstance(value, str):
        raise ValueError("give a date and time as an ISO 8601 string, e.g. 2026-12-01T18:30:00Z")
    return value


UtcDatetime = Annotated[datetime, StrictTypes(False), BeforeValidator(_iso_datetime), AfterValidator(_utc)]


def _iso_date(value: object) -> object:
    # pydantic would also take a number as days since 1970 ("0" is 1970-01-01); the schema says a date.
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("give a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _whole(value: object) -> object:
    # JSON Schema's integer is any number with no fraction (410.0 is one); strict models would refuse it.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("leave it out rather than send null")
    return value


# Goes around an optional field's ``X | SkipJsonSchema[None]``: the field may be left out, never sent as null
# (the schema, which does not list null, says so too).
NOT_NULL = BeforeValidator(_refuse_null)

# Makes a request body's ``int`` a JSON number with no fraction, never ``true`` or ``"5"`` (see ``Strict``). It
# goes after the bounds, ``Annotated[int, Field(ge=1), WHOLE]``, or the schema loses them.
WHOLE = BeforeValidator(_whole)


# A list of distinct seat ids (the service answers 400 for a repeated one, so the schema says so), at
# most the per-request cap; blocks (admin) take longer lists, see api/routes/seat_blocks.py.
SeatList = Annotated[
    list[SeatId],
    Field(
        min_length=1,
        max_length=MAX_SEATS_PER_REQUEST,
        json_schema_extra={"uniqueItems": True, PER_REQUEST_CAP: "maxItems"},
    ),
]


def per_request_cap(openapi: dict[str, Any], cap: int) -> dict[str, Any]:
    """The OpenAPI document with the deployment's per-request seat cap in every keyword marked for it.

    The models carry the hard ceiling (``MAX_SEATS_PER_REQUEST``); the show actors refuse more than the
    setting with 400, so a schema that allowed more would promise what the service refuses."""

    def walk(node: object) -> None:
        if isinstance(node, dict):
            keyword = node.pop(PER_REQUEST_CAP, None)
            if isinstance(keyword, str) and keyword in node:
                node[keyword] = min(int(node[keyword]), cap)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(openapi)
    return openapi


class Strict(BaseModel):
    """A request body: no unknown fields, and no type coercion (``true`` is not the number 1, ``"5"`` is not 5),
    so what the schema calls a number is the only thing accepted as one."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- accounts -------------------------------------------------------------------------------------------


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


# email-validator refuses addresses at special-use domains (RFC 6761 and successors: .test, .local, …)
# whatever their shape; JSON Schema's `email` format does not, so the schema adds it (regexes there have
# no flags, hence every letter in both cases).
DELIVERABLE_DOMAIN = (
    r"^(?!.*@(?:.*\.)?(?:" + "|".join(_any_case(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES) + r")$)"
)


class RegisterIn(Strict):
    email: EmailStr = Field(max_length=320, json_schema_extra={"pattern": DELIVERABLE_DOMAIN})
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
    duration_minutes: Annotated[int, Field(ge=1, le=1000), WHOLE]
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
    seats: Annotated[int, Field(ge=1, le=100), WHOLE]
    category: Category = "standard"


# A venue's limits: enough for the largest stadiums (150,000 places), small enough to check in one request.
MAX_VENUE_PLACES = 150_000


class SectionRowIn(Strict):
    row: RowLabel
    seats: Annotated[int, Field(ge=1, le=200), WHOLE]
    category: Category | None = Field(default=None, description="default: the section's category")


class SectionIn(Strict):
    """A section of a venue: seated `rows`, or a standing zone (`kind` `standing`) of `capacity` places."""

    # Seated (the default kind) with rows and no capacity, or standing with a capacity and no rows.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "properties": {"kind": {"const": "seated"}},
                    "required": ["rows"],
                    "not": {"required": ["capacity"]},
                },
                {
                    "properties": {"kind": {"const": "standing"}},
                    "required": ["kind", "capacity"],
                    "not": {"required": ["rows"]},
                },
            ]
        }
    )

    code: SectionCode = Field(description="used in seat ids: section `112` has seats `112-K-14`")
    name: Annotated[str, text(100)]
    kind: Literal["seated", "standing"] = "seated"
    category: Category = "standard"
    rows: Annotated[
        Annotated[list[SectionRowIn], Field(min_length=1, max_length=100)] | SkipJsonSchema[None], NOT_NULL
    ] = None
    capacity: Annotated[Annotated[int, Field(ge=1, le=MAX_VENUE_PLACES), WHOLE] | SkipJsonSchema[None], NOT_NULL] = (
        Field(default=None, description="a standing zone's places (general admission)")
    )

    @model_validator(mode="after")
    def _shape(self) -> SectionIn:
        if self.kind == "standing" and (self.capacity is None or self.rows is not None):
            raise ValueError("a standing zone has a `capacity` and no `rows`")
        if self.kind == "seated" and (self.rows is None or self.capacity is not None):
            raise ValueError("a seated section has `rows` and no `capacity`")
        return self


class ScreenIn(Strict):
    """A cinema screen's `rows` (seat ids `A1`…), or a venue's `sections` (seat ids `112-K-14`, standing
    places `FLA-1`…): exactly one of the two."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["rows"]}, {"required": ["sections"]}]})

    name: Annotated[str, text(100)]
    rows: Annotated[Annotated[list[RowIn], Field(min_length=1, max_length=60)] | SkipJsonSchema[None], NOT_NULL] = None
    sections: Annotated[
        Annotated[list[SectionIn], Field(min_length=1, max_length=400)] | SkipJsonSchema[None], NOT_NULL
    ] = None

    @model_validator(mode="after")
    def _one_way(self) -> ScreenIn:
        if (self.rows is None) == (self.sections is None):
            raise ValueError("give either `rows` or `sections`")
        if self.sections is not None:
            codes = [s.code for s in self.sections]
            if len(set(codes)) != len(codes):
                raise ValueError("section codes must be unique")
            for section in self.sections:
                labels = [r.row for r in section.rows or ()]
                if len(set(labels)) != len(labels):
                    raise ValueError(f"row labels must be unique within section {section.code}")
            places = sum(s.capacity or sum(r.seats for r in s.rows or ()) for s in self.sections)
            if places > MAX_VENUE_PLACES:
                raise ValueError(f"at most {MAX_VENUE_PLACES} places in a venue, got {places}")
        return self


class SectionOut(BaseModel):
    code: str
    name: str
    kind: str
    category: str
    capacity: int


class ScreenOut(BaseModel):
    id: str
    theater_id: str
    name: str
    seats: list[str]
    sections: list[SectionOut] = Field(default_factory=list, description="a venue's sections (none: a cinema screen)")
    capacity: int = 0


class ShowIn(Strict):
    movie_id: EntityId
    screen_id: EntityId
    starts_at: UtcDatetime
    prices: dict[Category, Annotated[float, Field(ge=0, le=1_000_000)]] = Field(
        min_length=1, max_length=20, json_schema_extra={"additionalProperties": False}
    )
    hold_ttl_seconds: Annotated[int, Field(ge=1, le=3600), WHOLE] | None = None
    sales_open_at: UtcDatetime | None = Field(default=None, description="on sale from (default: at once)")
    sales_close_at: UtcDatetime | None = Field(
        default=None, description="sales stop at (default: `BOOKING_SALES_CUTOFF_MINUTES` before the start)"
    )
    waiting_room: bool = Field(
        default=False,
        description="sell only to accounts a waiting room admits, in a provably fair order (docs/waiting-room.md)",
    )
    reentry: bool = Field(default=False, description="a ticket may come back in after an exit scan (docs/check-in.md)")


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
    waiting_room: bool = Field(default=False, description="holds need the waiting room's admission")
    reentry: bool = Field(default=False, description="a ticket may come back in after an exit scan")


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
    selected_seat: SeatList
    event_id: ShowId | None = None


class SeedHoldOut(BaseModel):
    hold_end_time: datetime
    event_id: str
    selected_seat: list[str]
    price: float
    hold_id: str


class PaymentInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    # Digits, spaces between groups allowed (not at either end: the schema's length is the number's).
    card_number: Annotated[str, StringConstraints(pattern=r"^[0-9][0-9 ]{10,21}[0-9]$")]

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


def answered(answer: Answer) -> Any:
    """What a route returns for a booking use case's idempotent ``Answer``: a stored refusal replayed as
    the problem it was, else the body (which FastAPI validates against the route's ``response_model``)."""
    if answer.problem_status is not None:
        return replayed_problem(answer.problem_status, answer.body)
    return answer.body


def links(status: int, **targets: tuple[str, dict[str, str]]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI links from a route's answer to the operations that take its ids (``name=(operationId,
    {parameter: runtime expression})``): clients and schemathesis' stateful phase follow them from a
    created show to its holds, from a hold to its payment, from a booking to its cancellation."""
    return {
        status: {
            "links": {
                name: {"operationId": operation_id, "parameters": parameters}
                for name, (operation_id, parameters) in targets.items()
            }
        }
    }


# Runtime expressions for ``links``: the created show's id, the created hold (on the request's show), the
# booking an answer names.
SHOW_LINK = {"show_id": "$response.body#/id"}
HOLD_LINK = {"show_id": "$request.path.show_id", "hold_id": "$response.body#/id"}
BOOKING_LINK = {"booking_id": "$response.body#/booking_id"}
# Every answer that makes a booking (pay holds, a box-office sale, the seed SubmitPayment) links to it so.
BOOKING_LINKS = {
    "Booking": ("get_booking_api_v1_bookings__booking_id__get", BOOKING_LINK),
    "CancelBooking": ("cancel_booking_api_v1_bookings__booking_id__cancel_post", BOOKING_LINK),
}


class LoginForm(BaseModel):
    """The OAuth2 password flow's form (``POST /api/v1/auth/token``); empty fields are refused with 422,
    so the schema says ``minLength: 1``."""

    # A form field cannot be null: optional ones are left out, so the schema does not offer null.
    grant_type: Annotated[str, StringConstraints(pattern=r"^password$")] | SkipJsonSchema[None] = None
    username: str = Field(min_length=1, max_length=320, pattern=PRINTABLE, description="the account's e-mail")
    password: str = Field(min_length=1, max_length=128)
    scope: str = ""
    client_id: str | SkipJsonSchema[None] = None
    client_secret: str | SkipJsonSchema[None] = None
