"""The waiting room in a real browser (issue 18, "People see it"): the queue page a customer waits on, the
seat map that sends the not-yet-admitted there, and the admin's switch and figures.

A show with two seats and a waiting room admits one buyer at a time (each is expected to take two seats):
an early account joined through the API holds the only pass, so the customers behind it wait, with a number
and people ahead, until its seats come back. As in ``test_web.py``, waiting is always for a condition.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # a dev install always has it; say so rather than fail to collect
    pytest.skip("playwright is not installed: pip install -e '.[dev]'", allow_module_level=True)

from tests.api_client import create_show
from tests.e2e.conftest import PHONE, Person, Web, no_script_errors, shot

TWO_SEATS = [{"row": "A", "seats": 2, "category": "standard"}]
APPROVED = "4242424242424242"
POLLED_MS = 20_000  # a change the page learns by reading every 5 s: the room's round, its re-read, the next read


def bearer(who: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


def figure(page: Page | Locator, label: str) -> Locator:
    """The value of the figure (a <dd>) named ``label`` by its <dt>."""
    return page.locator(f"dt:text-is('{label}') + dd")


def test_a_customer_waits_is_let_in_and_books_and_the_one_behind_sees_it_sell_out(web: Web) -> None:
    show = create_show(web.client, rows=TWO_SEATS, prices={"standard": 300.0}, waiting_room=True)
    queue = f"/app/shows/{show.show_id}/queue"
    early = web.person(name="Early Bird")
    joined = web.client.post(f"/api/v1/shows/{show.show_id}/queue", headers=bearer(early))
    assert joined.status_code == 200, joined.text

    # Asha joins on her phone behind the early bird, whose pass covers both seats: she waits.
    buyer = web.person(name="Asha")
    asha = web.page(buyer, viewport=PHONE)
    asha.goto(queue)
    expect(asha.get_by_role("heading", name="You're in the queue")).to_be_visible()
    expect(figure(asha, "Your number")).to_have_text("2")
    expect(figure(asha, "People ahead of you")).to_have_text("0")  # the early bird has been let in
    expect(asha.get_by_text("You are number 2 in the queue. Nobody is ahead of you.")).to_be_visible()
    assert asha.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Ravi joins behind her: a number, one person ahead, a wait and a chance, all in words.
    ravi = web.page(web.person(name="Ravi"))
    ravi.goto(queue)
    expect(figure(ravi, "Your number")).to_have_text("3")
    expect(figure(ravi, "People ahead of you")).to_have_text("1")
    expect(figure(ravi, "Admitted per minute")).to_have_text(re.compile(r"^\d+(\.\d)?$"))
    expect(figure(ravi, "Estimated wait")).to_have_text(
        re.compile(r"^(About \d+ (minutes?|hours?)|Under a minute|Waiting for the queue to move)$")
    )
    expect(figure(ravi, "Chance of a ticket")).to_have_text(re.compile(r"^(\d+%|Under 1%)$"))
    expect(ravi.get_by_text("Live", exact=True)).to_be_visible()  # followed over SSE
    shot(ravi, "20-queue-waiting")  # docs/img/queue-page.png

    # How the order is decided: the revealed seed hashes to the commitment, and the command checks it all.
    ravi.get_by_text("How the order is decided").click()
    seed = figure(ravi, "Seed")
    expect(seed).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    commitment = hashlib.sha256(seed.inner_text().encode()).hexdigest()
    expect(figure(ravi, "Commitment, sha256 of the seed")).to_have_text(commitment)
    command = f"python -m waiting_room.verify --base-url {web.base_url} --show {show.show_id}"
    expect(ravi.get_by_text(command)).to_be_visible()

    # Not admitted, the seat map sends him back to the queue; a hold the room refuses is said in words.
    ravi.goto(f"/app/shows/{show.show_id}")
    expect(ravi).to_have_url(re.compile(re.escape(queue) + "$"))
    expect(figure(ravi, "Your number")).to_have_text("3")  # joining again keeps the place
    pretend = {"state": "admitted", "admission_expires_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
    ravi.route("**/api/v1/shows/*/queue", lambda route: route.fulfill(json=pretend))  # a stale "your turn"
    ravi.goto(f"/app/shows/{show.show_id}")
    ravi.get_by_role("button", name="Find best seats").click()
    expect(ravi.get_by_text(re.compile("Nothing was held: this show sells through a waiting room"))).to_be_visible()
    ravi.unroute("**/api/v1/shows/*/queue")
    # From here on his stream fails: the page reads his entry every 5 s instead.
    ravi.route("**/queue/events**", lambda route: route.abort())
    ravi.get_by_role("link", name="Go to the queue").click()
    expect(figure(ravi, "People ahead of you")).to_have_text("1")
    expect(ravi.get_by_text("Updating every 5 s")).to_be_visible()

    # The early bird's seats come back: Asha's turn, with a countdown and the way to the seat map.
    held = web.client.post(f"/api/v1/shows/{show.show_id}/holds", headers=bearer(early), json={"seats": ["A1", "A2"]})
    assert held.status_code == 201, held.text
    released = web.client.delete(f"/api/v1/shows/{show.show_id}/holds/{held.json()['id']}", headers=bearer(early))
    assert released.status_code == 204, released.text
    expect(asha.get_by_role("heading", name="It's your turn")).to_be_visible()
    expect(asha.get_by_role("timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
    shot(asha, "21-queue-your-turn-phone")
    expect(figure(ravi, "People ahead of you")).to_have_text("0", timeout=POLLED_MS)
    asha.get_by_role("link", name="Choose your seats").click()
    expect(asha.get_by_text(re.compile("It's your turn from the waiting room"))).to_be_visible()
    asha.get_by_role("button", name="Find best seats").click()
    expect(asha.get_by_role("heading", name="Your seats are held")).to_be_visible()

    # She pays; the one behind her is told, in words, that the show sold out.
    paid = web.client.post(
        f"/api/v1/shows/{show.show_id}/holds/pay",
        headers=bearer(buyer),
        json={"payment_info": {"card_number": APPROVED}},
    )
    assert paid.status_code == 200, paid.text
    expect(ravi.get_by_role("heading", name="Sold out")).to_be_visible(timeout=POLLED_MS)
    expect(ravi.get_by_text("Sold out: every seat of this show has been sold.")).to_be_visible()
    # One click puts him on the waiting list, first in line.
    ravi.get_by_label("Seats wanted together").fill("1")
    ravi.get_by_role("button", name="Join the waiting list").click()
    expect(ravi.get_by_text("You're on the waiting list for 1 seat, first in line.", exact=False)).to_be_visible()
    for page in (asha, ravi):
        no_script_errors(page)


def test_an_admin_sells_a_show_through_a_waiting_room_and_watches_its_figures(web: Web) -> None:
    # A movie and a screen to schedule, three days out: clear of the form's default time (tomorrow evening).
    scheduled, _ = web.show("Anthem Night", TWO_SEATS, {"standard": 300.0}, starts_in=timedelta(days=3))
    admin = web.page(web.admin())
    admin.goto("/app/admin/shows")
    admin.get_by_label("Movie").select_option(scheduled.movie_id)
    admin.get_by_label("Theater").select_option(scheduled.theater_id)
    admin.get_by_label("Sell through a waiting room").check()
    admin.get_by_role("button", name="Create show").click()
    expect(admin.get_by_text(re.compile("is on sale through a waiting room"))).to_be_visible()
    watch = admin.get_by_role("link", name="Watch its waiting room")
    show_id = (watch.get_attribute("href") or "").rsplit("/", 1)[-1]
    assert web.client.get(f"/api/v1/shows/{show_id}").json()["waiting_room"] is True

    fan = web.person(name="Fan")
    joined = web.client.post(f"/api/v1/shows/{show_id}/queue", headers=bearer(fan))
    assert joined.status_code == 200, joined.text
    watch.click()
    room = admin.get_by_role("region", name="Waiting room")
    expect(figure(room, "Entries")).to_have_text("1")
    expect(figure(room, "Admitted")).to_have_text("1")  # read again every 5 s: the round has let the fan in
    expect(figure(room, "Waiting")).to_have_text("0")
    expect(figure(room, "Sold out")).to_have_text("Not yet")
    expect(figure(room, "Seats")).to_have_text("2")
    expect(figure(room, "Open passes")).to_have_text("1")
    shot(admin, "22-admin-waiting-room", full_page=True)
    no_script_errors(admin)
