"""Box office: staff accounts created by an admin sell to walk-in customers, recorded as such."""

from __future__ import annotations

import secrets

import httpx
import psycopg

from settings import libpq_url
from tests.api_client import admin_headers, create_show, new_user, token
from tests.conftest import Backing, Service


def test_a_desk_sells_to_walk_ins_without_the_account_cap(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
        admin = admin_headers(client)
        email = f"desk-{secrets.token_hex(4)}@example.com"
        created = client.post(
            "/api/v1/admin/users",
            headers=admin,
            json={"email": email, "password": "desk-password", "role": "box_office"},
        )
        assert created.status_code == 201
        assert created.json()["role"] == "box_office"
        desk = {"Authorization": f"Bearer {token(client, email, 'desk-password')}"}
        url = f"/api/v1/box-office/shows/{show.show_id}/sales"
        card = {"card_number": "4242424242424242"}
        sales = [
            client.post(url, headers=desk, json={"seats": seats, "customer_name": name, "payment_info": card})
            for seats, name in (
                ([f"A{i}" for i in range(1, 7)], "Asha Rao"),
                ([f"A{i}" for i in range(7, 11)] + ["B1", "B2"], "Ravi Kumar"),
            )
        ]
        assert [s.status_code for s in sales] == [201, 201], [s.text for s in sales]
        assert sales[0].json()["customer_name"] == "Asha Rao"

        declined = client.post(
            url,
            headers=desk,
            json={"seats": ["B3"], "customer_name": "No Funds", "payment_info": {"card_number": "4000000000000002"}},
        )
        assert declined.status_code == 402
        taken = client.post(url, headers=desk, json={"seats": ["A1"], "customer_name": "Late", "payment_info": card})
        assert taken.status_code == 409

        _, customer = new_user(client)
        forbidden = client.post(
            url,
            headers={"Authorization": f"Bearer {customer}"},
            json={"seats": ["B4"], "customer_name": "x", "payment_info": card},
        )
        assert forbidden.status_code == 403
        assert (
            client.post(
                "/api/v1/admin/users",
                headers={"Authorization": f"Bearer {customer}"},
                json={"email": "x@example.com", "password": "12345678", "role": "admin"},
            ).status_code
            == 403
        )
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        rows = conn.execute(
            "SELECT customer_name, sold_by = user_id, cardinality(seat_ids) FROM bookings WHERE show_id = %s "
            "ORDER BY customer_name",
            (show.show_id,),
        ).fetchall()
        b3 = conn.execute(
            "SELECT count(*) FROM seat_claims WHERE show_id = %s AND seat_id = 'B3'", (show.show_id,)
        ).fetchone()
    assert rows == [("Asha Rao", True, 6), ("Ravi Kumar", True, 6)]
    assert b3 == (0,), "a declined walk-in's seats are released at once"
