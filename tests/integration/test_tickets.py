"""Tickets over HTTP (api/routes/tickets.py) and the ticket keys in PostgreSQL (persistence/ticket_keys.py):
who sees a booking's ticket, codes verified with nothing but the published keys (PyJWT here, as an outside
gate would), rotation, and processes that start together agreeing on one first key."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import psycopg
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from persistence import ticket_keys
from persistence.urls import libpq_url, sqlalchemy_url
from tests.api_client import ShowFixture, admin_headers, bearer, create_show, new_user, seed_hold, seed_pay
from tests.conftest import Backing, Service
from tickets.keys import new_key


@pytest.fixture
def client(live_service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as c:
        yield c


@pytest.fixture
def show(client: httpx.Client) -> ShowFixture:
    return create_show(client)


def book(client: httpx.Client, show: ShowFixture, user: str, seats: list[str]) -> str:
    """Hold and pay for ``seats``; the booking's id."""
    assert seed_hold(client, show, user, seats).status_code == 200
    assert seed_pay(client, show, user).status_code == 200
    mine = client.get("/api/v1/bookings", headers=bearer(user)).json()["items"]
    return str(next(b["id"] for b in mine if b["show_id"] == show.show_id))


def published_key(client: httpx.Client, code: str) -> Any:
    """The public key the JWKS publishes under the code's ``kid``."""
    jwks = client.get("/.well-known/seatwise/ticket-keys")
    assert jwks.status_code == 200
    assert jwks.headers["cache-control"] == "public, max-age=300"
    kid = jwt.get_unverified_header(code)["kid"]
    (key,) = [k for k in jwks.json()["keys"] if k["kid"] == kid]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    return jwt.PyJWK(key).key


def test_a_bookings_ticket_is_its_owners_and_verifies_with_the_published_keys(
    client: httpx.Client, show: ShowFixture
) -> None:
    _, alice = new_user(client, "alice")
    booking = book(client, show, alice, ["A1", "A2"])
    ticket = client.get(f"/api/v1/bookings/{booking}/ticket", headers=bearer(alice))
    assert ticket.status_code == 200, ticket.text
    assert ticket.headers["cache-control"] == "no-store"
    body = ticket.json()
    assert (body["kind"], body["booking_id"], body["show_id"]) == ("static", booking, show.show_id)
    assert sorted(body["seats"]) == ["A1", "A2"]
    assert body["holder"] == "alice"
    assert (body["rotating"]["period"], body["rotating"]["digits"]) == (15, 6)

    claims = jwt.decode(body["code"], published_key(client, body["code"]), algorithms=["EdDSA"])
    assert (claims["b"], claims["s"], sorted(claims["st"]), claims["h"], claims["k"]) == (
        booking,
        show.show_id,
        ["A1", "A2"],
        "alice",
        "s",
    )
    rotating = body["rotating"]["token"]
    assert jwt.decode(rotating, published_key(client, rotating), algorithms=["EdDSA"])["k"] == "r"
    assert pyotp.TOTP(body["rotating"]["secret"], interval=15).now().isdigit(), "a base32 TOTP secret"
    tampered = body["code"][:-4] + ("AAAA" if not body["code"].endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, published_key(client, body["code"]), algorithms=["EdDSA"])

    _, bob = new_user(client, "bob")
    someone_elses = client.get(f"/api/v1/bookings/{booking}/ticket", headers=bearer(bob))
    unknown = client.get(f"/api/v1/bookings/{'0' * 8}-0000-4000-8000-{'0' * 12}/ticket", headers=bearer(bob))
    assert someone_elses.status_code == unknown.status_code == 404
    assert someone_elses.json()["type"] == unknown.json()["type"]
    assert client.get(f"/api/v1/bookings/{booking}/ticket").status_code == 401

    by_admin = client.get(f"/api/v1/bookings/{booking}/ticket", headers=admin_headers(client))
    assert by_admin.status_code == 200
    assert by_admin.json()["holder"] == "alice"

    assert client.post(f"/api/v1/bookings/{booking}/cancel", headers=bearer(alice)).status_code == 200
    cancelled = client.get(f"/api/v1/bookings/{booking}/ticket", headers=bearer(alice))
    assert cancelled.status_code == 409
    assert cancelled.headers["content-type"].startswith("application/problem+json")


def test_a_box_office_ticket_names_the_walk_in_customer(client: httpx.Client, show: ShowFixture) -> None:
    admin = admin_headers(client)
    sale = client.post(
        f"/api/v1/box-office/shows/{show.show_id}/sales",
        headers=admin,
        json={"seats": ["B1"], "customer_name": "Ravi Kumar", "payment_info": {"card_number": "4242424242424242"}},
    )
    assert sale.status_code == 201, sale.text
    ticket = client.get(f"/api/v1/bookings/{sale.json()['booking_id']}/ticket", headers=admin)
    assert ticket.status_code == 200
    assert ticket.json()["holder"] == "Ravi Kumar"


def test_rotation_signs_with_a_new_key_and_old_codes_keep_verifying(client: httpx.Client, show: ShowFixture) -> None:
    _, carol = new_user(client, "carol")
    booking = book(client, show, carol, ["A5"])
    url = f"/api/v1/bookings/{booking}/ticket"
    before = client.get(url, headers=bearer(carol)).json()["code"]
    old_kid = jwt.get_unverified_header(before)["kid"]

    assert client.post("/api/v1/admin/ticket-keys/rotate", headers=bearer(carol)).status_code == 403
    rotated = client.post("/api/v1/admin/ticket-keys/rotate?retire_after_hours=1", headers=admin_headers(client))
    assert rotated.status_code == 200, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid
    retiring = {k["kid"]: datetime.fromisoformat(k["retires_at"]) for k in rotated.json()["retiring"]}
    assert old_kid in retiring
    assert timedelta(minutes=59) < retiring[old_kid] - datetime.now(UTC) <= timedelta(hours=1)

    after = client.get(url, headers=bearer(carol)).json()["code"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid, "the new key signs at once in this process"
    assert jwt.decode(before, published_key(client, before), algorithms=["EdDSA"])["b"] == booking
    assert jwt.decode(after, published_key(client, after), algorithms=["EdDSA"])["b"] == booking


# -- processes starting together on an empty key table ---------------------------------------------------


@pytest.fixture
async def empty_key_table(backing: Backing) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a ``ticket_keys`` of their own (a copy of the table, empty, in a schema first on their
    search path), shared by every connection, so the shared service's keys are left alone."""
    schema = f"ticket_keys_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.ticket_keys (LIKE public.ticket_keys INCLUDING ALL)")
    engine = create_async_engine(
        sqlalchemy_url(backing.database_url),
        connect_args={"options": f"-c search_path={schema},public -c statement_timeout=10000"},
    )
    try:
        yield async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    finally:
        await engine.dispose()
        with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def _first_keys(sessions: async_sessionmaker[AsyncSession]) -> tuple[list[str], set[str], bool]:
    """Two processes load the ring of an empty table; the second reads it while the first has made its key
    but not committed it. Each one's signing kid and their public keys, the kids left with no
    ``retires_at``, and whether the second was still waiting when the first committed."""
    now = datetime.now(UTC)

    async def second() -> Any:
        async with sessions() as session, session.begin():
            return await ticket_keys.load_ring(session, now)

    async with sessions() as session, session.begin():
        first = await ticket_keys.load_ring(session, now)
        late = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        waited = not late.done()
    rings = [first, await late]
    async with sessions() as session:
        rows = await session.execute(text("SELECT kid FROM ticket_keys WHERE retires_at IS NULL"))
        signers = {r.kid for r in rows}
    publics = {ring.verifying[ring.signing_kid].key.public_bytes_raw().hex() for ring in rings}
    return [ring.signing_kid for ring in rings] + sorted(publics), signers, waited


async def test_processes_starting_together_agree_on_one_first_key(
    empty_key_table: async_sessionmaker[AsyncSession],
) -> None:
    signing, signers, waited = await _first_keys(empty_key_table)
    assert waited, "the second waited for the first's k1"
    assert signers == {"k1"}
    assert signing[:2] == ["k1", "k1"]
    assert len(signing) == 3, "one public key between them"


async def test_negative_control_keys_named_at_random_give_two_signers(
    empty_key_table: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the shared next name the same race leaves two keys signing: the test above can see it."""
    monkeypatch.setattr(ticket_keys, "new_key", lambda number: new_key(number + secrets.randbelow(10**6) + 1))
    signing, signers, waited = await _first_keys(empty_key_table)
    assert not waited
    assert len(signers) == 2
    assert signing[0] != signing[1]
