"""Scenario 11: the BOLA matrix — every route with an id in its path, tried by other accounts on A's objects.

The routes come from the running service's ``/openapi.json``, so a route added later is in the matrix
without anyone editing this file. Account A owns a hold, a paid booking and its payment on a show; the
attackers are a customer B, a box-office desk C and an anonymous caller. Each path parameter is filled
with A's object of that kind (a parameter name the matrix does not know is tried with every one of A's
private ids), each body with a plausible one for its schema, and each attempt is judged:

- a route under ``/api/v1/admin/``, or with a private id (hold, booking, account, payment, webhook, dead
  letter, …) in its path: any 2xx is an unauthorized success;
- a route whose ids are all public catalog ids (show, movie, theater): success is allowed (B may hold
  seats of the show A booked), but it must not change anything of A's and must not reveal A's ids;
  ``/box-office/`` routes are for the desk only, so B's 2xx there is an unauthorized success;
- anonymous callers get no 2xx from a route that needs a token;
- existence must not leak: with A's id replaced by an unknown one the answer's status must be the same.

A's state (holds, bookings, claims, payments, refunds, the account, the show, its blocked seats, the
webhooks) is snapshotted from PostgreSQL before and after every attempt. As a control, the owner's
own requests (and an admin's) on the same ids must succeed, proving the ids and bodies were valid.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from harness.client import ADMIN_EMAIL, ADMIN_PASSWORD, ShowFixture, bulk_users, create_show, token
from reliability.env import Env
from reliability.figures import Figure, informational, zero
from settings import libpq_url

CARD = "4242424242424242"
CATALOG_PARAMS = {"show_id", "event_id", "movie_id", "theater_id", "screen_id"}
PRIVATE_PARAMS = {"hold_id", "booking_id", "user_id", "payment_id", "webhook_id", "dead_letter_id"}
SEED_TOKEN_ROUTES = ("/GetTheaterDetail/", "/GetAvailableSeat/", "/HoldSeat/", "/SubmitPayment/")
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: tuple[str, ...]
    body_schema: dict[str, Any] | None
    needs_token: bool

    @property
    def admin(self) -> bool:
        return self.path.startswith("/api/v1/admin/")

    @property
    def box_office(self) -> bool:
        return self.path.startswith("/api/v1/box-office/")

    @property
    def private(self) -> bool:
        """Names an object that belongs to someone: any id that is not a public catalog id."""
        return any(p not in CATALOG_PARAMS for p in self.params)


def routes_with_ids(spec: dict[str, Any]) -> list[Route]:
    found: list[Route] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            params = tuple(p["name"] for p in op.get("parameters", []) if p.get("in") == "path")
            if not params:
                continue
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            security = op.get("security")
            needs = (bool(security) and {} not in security) or path.startswith(SEED_TOKEN_ROUTES)
            found.append(Route(method.upper(), path, params, body, needs))
    return found


# -- bodies -----------------------------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def example(spec: dict[str, Any], schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A small value that should pass validation: known shapes by property name, else by type."""
    schema = _resolve(spec, schema)
    known: dict[str, Any] = {
        "seats": ["B9"],
        "selected_seat": ["B9"],
        "card_number": CARD,
        "role": "admin",  # the escalation an attacker would want
        "customer_name": "Walk In",
        "email": f"x-{secrets.token_hex(3)}@example.com",
        "password": "correct-horse",
        "name": "X",
        "row": "A",
    }
    if name in known:
        return known[name]
    if depth > 4:
        return None
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [o for o in schema[combinator] if _resolve(spec, o).get("type") != "null"]
            return example(spec, options[0] if options else schema[combinator][0], name, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example(spec, v, k, depth + 1) for k, v in props.items() if k in schema.get("required", [])}
    if kind == "array":
        return [example(spec, schema.get("items", {}), name, depth + 1)]
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return "x"


# -- the world --------------------------------------------------------------------------------------------


@dataclass
class World:
    show: ShowFixture
    a_id: str
    a_email: str
    a_token: str
    hold_id: str
    booking_id: str
    payment_id: str
    charge_id: str
    webhook_id: str
    attackers: dict[str, dict[str, str]]  # name → token headers (empty: anonymous)
    admin_token: str

    def ids(self) -> dict[str, str]:
        return {
            "show_id": self.show.show_id,
            "event_id": self.show.show_id,
            "movie_id": self.show.movie_id,
            "theater_id": self.show.theater_id,
            "screen_id": self.show.screen_id,
            "hold_id": self.hold_id,
            "booking_id": self.booking_id,
            "user_id": self.a_id,
            "payment_id": self.payment_id,
            "webhook_id": self.webhook_id,
        }

    def private_ids(self) -> list[str]:
        return [self.hold_id, self.booking_id, self.a_id, self.payment_id, self.webhook_id]

    def secrets_of_a(self) -> list[str]:
        return [self.a_id, self.a_email, self.hold_id, self.booking_id, self.payment_id, self.charge_id]


def build_world(client: httpx.Client, database_url: str) -> World:
    admin = token(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    admin_h = {"Authorization": f"Bearer {admin}"}
    show = create_show(client)
    (a_id, a), (_, b) = bulk_users(database_url, 2)
    auth_a = {"Authorization": f"Bearer {a}"}
    assert client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth_a, json={"seats": ["A1", "A2"]}).is_success
    paid = client.post(
        f"/api/v1/shows/{show.show_id}/holds/pay", headers=auth_a, json={"payment_info": {"card_number": CARD}}
    )
    assert paid.status_code == 200, paid.text
    held = client.post(f"/api/v1/shows/{show.show_id}/holds", headers=auth_a, json={"seats": ["B5"]})
    assert held.status_code == 201, held.text
    desk_email = f"desk-{secrets.token_hex(4)}@example.com"
    desk = client.post(
        "/api/v1/admin/users",
        headers=admin_h,
        json={"email": desk_email, "password": "correct-horse", "role": "box_office"},
    )
    assert desk.status_code == 201, desk.text
    hook = client.post(
        "/api/v1/admin/webhooks", headers=admin_h, json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}
    )
    webhook_id = hook.json().get("id", str(uuid.uuid4())) if hook.is_success else str(uuid.uuid4())
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT p.id, p.charge_id, u.email FROM payments p JOIN users u ON u.id = p.user_id "
            "WHERE p.booking_id = %s",
            (paid.json()["booking_id"],),
        ).fetchone()
    assert row is not None
    return World(
        show=show,
        a_id=a_id,
        a_email=row[2],
        a_token=a,
        hold_id=held.json()["id"],
        booking_id=paid.json()["booking_id"],
        payment_id=row[0],
        charge_id=row[1] or "",
        webhook_id=webhook_id,
        attackers={
            "customer B": {"token": b},
            "box-office desk C": {"token": token(client, desk_email, "correct-horse")},
            "anonymous": {},
        },
        admin_token=admin,
    )


def snapshot(database_url: str, world: World) -> tuple[Any, ...]:
    """Everything of A's (and the show's) that no other account may change."""
    a, show = world.a_id, world.show.show_id
    with psycopg.connect(libpq_url(database_url)) as conn:
        charges = [world.charge_id]
        has_gateway = conn.execute("SELECT to_regclass('gateway.refunds') IS NOT NULL").fetchone()
        refunds = (
            conn.execute("SELECT refund_id FROM gateway.refunds WHERE charge_id = ANY(%s)", (charges,)).fetchall()
            if has_gateway and has_gateway[0]
            else []
        )
        return (
            refunds,
            conn.execute(
                "SELECT id, status, expires_at, extensions, seat_ids FROM holds WHERE user_id = %s ORDER BY id", (a,)
            ).fetchall(),
            conn.execute("SELECT id, status, seat_ids FROM bookings WHERE user_id = %s ORDER BY id", (a,)).fetchall(),
            conn.execute(
                "SELECT seat_id, hold_id, booking_id, expires_at FROM seat_claims WHERE user_id = %s ORDER BY seat_id",
                (a,),
            ).fetchall(),
            conn.execute("SELECT id, status FROM payments WHERE user_id = %s ORDER BY id", (a,)).fetchall(),
            conn.execute("SELECT email, role, password_hash FROM users WHERE id = %s", (a,)).fetchall(),
            conn.execute("SELECT status, starts_at, prices FROM shows WHERE id = %s", (show,)).fetchall(),
            conn.execute("SELECT seat_id FROM blocked_seats WHERE show_id = %s ORDER BY seat_id", (show,)).fetchall(),
            conn.execute("SELECT id FROM notification_webhooks ORDER BY id").fetchall(),
        )


# -- the matrix -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    attacker: str
    route: Route
    url: str
    status: int
    unknown_status: int | None
    changed: bool
    leaked: bool

    @property
    def success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def unauthorized(self) -> bool:
        """A 2xx the attacker must not get, or a success that touched A's state or showed A's ids."""
        if self.attacker == "anonymous":
            return False  # counted separately, as unauthenticated
        forbidden = self.route.admin or self.route.private or (self.route.box_office and "desk" not in self.attacker)
        return (self.success and forbidden) or self.changed or self.leaked


def fillings(route: Route, world: World) -> Iterator[dict[str, str]]:
    """Path parameter values: A's objects; an unknown parameter name is tried with each private id."""
    ids = world.ids()
    unknown = [p for p in route.params if p not in ids]
    base = {p: ids[p] for p in route.params if p in ids}
    if not unknown:
        yield base
        return
    for value in world.private_ids():
        yield {**base, **dict.fromkeys(unknown, value)}


def headers_for(route: Route, credentials: dict[str, str]) -> dict[str, str]:
    if "token" not in credentials:
        return {}
    if route.path.startswith("/api/"):
        return {"Authorization": f"Bearer {credentials['token']}"}
    return {"AuthorizationToken": credentials["token"]}


def send(client: httpx.Client, method: str, url: str, headers: dict[str, str], body: Any) -> tuple[int, str]:
    """One request; a never-ending stream (Server-Sent Events) is read for a moment, then closed."""
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    with client.stream(method, url, **kwargs) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            text, deadline = b"", time.monotonic() + 1.0
            for chunk in response.iter_raw():
                text += chunk
                if len(text) > 8192 or time.monotonic() > deadline:
                    break
            return response.status_code, text.decode(errors="replace")
        return response.status_code, response.read().decode(errors="replace")


def run_matrix(client: httpx.Client, database_url: str, spec: dict[str, Any], world: World) -> list[Attempt]:
    attempts: list[Attempt] = []
    private = set(world.private_ids())
    for route in routes_with_ids(spec):
        body = example(spec, route.body_schema) if route.body_schema else None
        for attacker, credentials in world.attackers.items():
            if attacker == "anonymous" and not route.needs_token:
                continue
            headers = headers_for(route, credentials)
            for values in fillings(route, world):
                url = route.path.format(**values)
                before = snapshot(database_url, world)
                status, text = send(client, route.method, url, headers, body)
                changed = snapshot(database_url, world) != before
                sent = set(values.values())
                leaked = any(s and s in text for s in world.secrets_of_a() if s not in sent)
                # The same request with A's private ids replaced by unknown ones (existence must not leak).
                unknown_status = None
                swapped = {k: (str(uuid.uuid4()) if v in private else v) for k, v in values.items()}
                if swapped != values and route.method in ("GET", "DELETE", "POST", "PUT"):
                    unknown_status, _ = send(client, route.method, route.path.format(**swapped), headers, body)
                attempts.append(Attempt(attacker, route, url, status, unknown_status, changed, leaked))
    return attempts


def owner_controls(client: httpx.Client, world: World) -> tuple[int, int]:
    """The owner's and an admin's requests on the same ids succeed: the matrix's refusals are real."""
    a = {"Authorization": f"Bearer {world.a_token}"}
    admin = {"Authorization": f"Bearer {world.admin_token}"}
    show = world.show.show_id
    checks = [
        client.get(f"/api/v1/bookings/{world.booking_id}", headers=a),
        client.post(f"/api/v1/shows/{show}/holds/{world.hold_id}/extend", headers=a),
        client.get(f"/api/v1/admin/shows/{show}/ledger", headers=admin),
        client.get(f"/GetTheaterDetail/api/v0/{world.show.theater_id}", headers={"AuthorizationToken": world.a_token}),
        client.delete(f"/api/v1/shows/{show}/holds/{world.hold_id}", headers=a),
        client.post(f"/api/v1/bookings/{world.booking_id}/cancel", headers=a),
    ]
    return sum(r.is_success for r in checks), len(checks)


class Bola:
    number = 11
    title = "BOLA matrix over every route with an id"

    def run(self, env: Env, full: bool) -> list[Figure]:
        n = self.number
        service = env.start_service()
        with service.client() as client:
            spec = client.get("/openapi.json").json()
            world = build_world(client, env.database_url)
            rounds = 3 if full else 1
            attempts: list[Attempt] = []
            for r in range(rounds):
                env.log(f"matrix round {r + 1}/{rounds}")
                attempts += run_matrix(client, env.database_url, spec, world)
            owner_ok, owner_total = owner_controls(client, world)
        routes = routes_with_ids(spec)
        unknown_params = sorted({p for r in routes for p in r.params} - CATALOG_PARAMS - PRIVATE_PARAMS)
        bad = [a for a in attempts if a.unauthorized]
        for a in bad:
            env.log(f"UNAUTHORIZED: {a.attacker} {a.route.method} {a.url} → {a.status} changed={a.changed}")
        return [
            informational(
                n,
                "routes with an id / attempts (3 attackers, A's ids)",
                f"{len(routes)} / {len(attempts)}",
            ),
            zero(n, "unauthorized successes (other accounts on A's objects, admin routes)", len(bad)),
            zero(
                n,
                "unauthenticated successes on routes needing a token",
                sum(a.attacker == "anonymous" and a.success for a in attempts),
            ),
            zero(n, "attempts that changed A's holds, bookings, payments or account", sum(a.changed for a in attempts)),
            zero(n, "answers revealing A's ids", sum(a.leaked for a in attempts)),
            zero(
                n,
                "answers telling A's id from an unknown id (status differs)",
                sum(a.unknown_status is not None and a.unknown_status != a.status for a in attempts),
            ),
            informational(n, "attempts refused as invalid (422: body or id never reached authorization)",
                          sum(a.status == 422 for a in attempts)),
            informational(n, "id parameters the matrix has no object kind for (tried with all)",
                          ", ".join(unknown_params) or "none"),
            Figure(n, "control: the owner's / an admin's own requests succeed", f"{owner_ok}/{owner_total}", "= all",
                   owner_ok == owner_total),
        ]  # fmt: skip


SCENARIO = Bola()
