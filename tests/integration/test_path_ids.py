"""Every path id that names nothing is 404 problem+json, whatever its shape (issue 14).

Walks every operation in the service's own /openapi.json that has a path parameter and sends, with an
admin token, (1) an id of another shape in every path parameter, and (2) well-formed ids that exist
nowhere; both must answer 404 ``application/problem+json``, never 422. The routes have no enum-like path
parameters (literal parts such as ``/holds/pay`` are not parameters), so every path parameter is an id.
Operations with a request body get a valid one (``BODIES``), so that only the path can be at fault.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api_client import admin_headers, create_show
from tests.conftest import Service

NOT_AN_ID = "no-such-id-404"
UNKNOWN = str(uuid.uuid4())
CARD = {"card_number": "4242424242424242"}

# A valid body per operation that takes one, so a well-formed unknown id is judged on the path alone.
# "{path:NAME}" is replaced by the path parameter NAME's value.
BODIES: dict[str, dict[str, Any]] = {
    "POST /api/v1/shows/{show_id}/holds": {"count": 1},
    "POST /api/v1/shows/{show_id}/holds/pay": {"payment_info": CARD},
    "POST /HoldSeat/api/v0/{movie_id}": {
        "movie_id": "{path:movie_id}",
        "theater_id": UNKNOWN,
        "selected_seat": ["A1"],
    },
    "POST /SubmitPayment/api/v0/{event_id}": {"event_id": "{path:event_id}", "paymentInfo": CARD},
    "PUT /api/v1/admin/users/{user_id}/role": {"role": "customer"},
    "POST /api/v1/admin/theaters/{theater_id}/screens": {"name": "S", "rows": [{"row": "A", "seats": 1}]},
    "POST /api/v1/box-office/shows/{show_id}/sales": {
        "seats": ["A1"],
        "customer_name": "Walk-in",
        "payment_info": CARD,
    },
    "POST /api/v1/admin/shows/{show_id}/seats/block": {"seats": ["A1"]},
    "POST /api/v1/admin/shows/{show_id}/seats/unblock": {"seats": ["A1"]},
    "POST /api/v1/shows/{show_id}/waiting-list": {"seats": 1},
    "POST /api/v1/shows/{show_id}/check-ins": {"code": "not-a-ticket", "gate": "G1"},
    "POST /api/v1/shows/{show_id}/check-ins/sync": {"gate": "G1", "scans": []},
}


def well_formed(schema: dict[str, Any]) -> str:
    """An id that has the parameter's shape and names nothing."""
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if schema.get("pattern") == "^[0-9]{1,19}-[0-9]{1,19}$":  # a Redis stream id (dead letters)
        return "1-1"
    if schema.get("pattern") == "^[A-Z0-9]{1,6}$":  # a venue's section code
        return "ZZZ999"
    raise AssertionError(f"no well-formed unknown id for {schema}: add one here")


def operations(spec: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]], bool]]:
    """(method, path template, path parameters, takes a body) of every operation with a path parameter."""
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            params = [p for p in operation.get("parameters", []) if p["in"] == "path"]
            if params:
                found.append((method.upper(), path, params, "requestBody" in operation))
    return found


def body_for(key: str, values: dict[str, str]) -> dict[str, Any] | None:
    template = BODIES.get(key)
    if template is None:
        return None
    return {
        k: values[v.removeprefix("{path:").removesuffix("}")] if isinstance(v, str) and v.startswith("{path:") else v
        for k, v in template.items()
    }


def send(client: httpx.Client, method: str, path: str, values: dict[str, str], body: Any) -> httpx.Response:
    url = path.format(**values)
    if path.endswith("/seats/stream"):  # an event stream: only its first answer line matters here
        with client.stream(method, url) as response:
            response.read()
            return response
    return client.request(method, url, json=body)


def assert_not_found(response: httpx.Response, what: str) -> None:
    assert response.status_code == 404, (what, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), what
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), what
    assert body["status"] == 404, what


@pytest.fixture(scope="module")
def admin_client(service: Service) -> Any:
    with httpx.Client(base_url=service.base_url, timeout=30) as client:
        client.headers.update(admin_headers(client))
        # The seed (v0) routes take the bare token in AuthorizationToken.
        client.headers["AuthorizationToken"] = client.headers["Authorization"].removeprefix("Bearer ")
        yield client


def test_every_path_id_that_names_nothing_is_404(admin_client: httpx.Client) -> None:
    spec = admin_client.get("/openapi.json").json()
    found = operations(spec)
    assert len(found) >= 20, "the walk found too few operations with path ids"
    for method, path, params, takes_body in found:
        key = f"{method} {path}"
        assert not takes_body or key in BODIES, f"{key} takes a body: add a valid one to BODIES"
        wrong_shape = {p["name"]: NOT_AN_ID for p in params}
        assert_not_found(send(admin_client, method, path, wrong_shape, body_for(key, wrong_shape)), f"{key} shape")
        unknown = {p["name"]: well_formed(p["schema"]) for p in params}
        assert_not_found(send(admin_client, method, path, unknown, body_for(key, unknown)), f"{key} unknown")


def test_a_malformed_body_stays_422(admin_client: httpx.Client) -> None:
    """The 404 is for the path only: a path that names a show, with a body that fails validation, is 422."""
    show = create_show(admin_client)
    response = admin_client.post(f"/api/v1/shows/{show.show_id}/holds", json={"count": "many"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
