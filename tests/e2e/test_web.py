"""The web app in a real browser (headless Chromium): what customers, desks and admins do with it.

Each test drives the pages as a person would (clicks, keys, forms) against the real service, checks what
the page says in words, and keeps screenshots. Waiting is always for a condition (Playwright's ``expect``),
never a fixed sleep.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:  # a dev install always has it; say so rather than fail to collect
    pytest.skip("playwright is not installed: pip install -e '.[dev]'", allow_module_level=True)

from tests.api_client import admin_headers
from tests.e2e.conftest import PHONE, Web, decode_qr, no_script_errors, shot

ROWS = [{"row": "A", "seats": 10, "category": "standard"}, {"row": "B", "seats": 10, "category": "premium"}]
PRICES = {"standard": 250.0, "premium": 400.0}
APPROVED = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
LOCAL = ZoneInfo("Asia/Kolkata")  # the browsers' time zone (conftest.Web.context)


def seat(page: Page, label: str, status: str | None = None) -> Locator:
    """The seat button whose accessible name starts with ``Row A seat 5`` (and ends with ``status``)."""
    pattern = rf"^{re.escape(label)}, .*{re.escape(status) if status else ''}$"
    return page.get_by_role("button", name=re.compile(pattern))


def book(web: Web, show_id: str, seats: list[str]) -> None:
    """Hold and pay through the API, as another customer."""
    bearer = {"Authorization": f"Bearer {web.person(name='Extra').token}"}
    held = web.client.post(f"/api/v1/shows/{show_id}/holds", headers=bearer, json={"seats": seats})
    assert held.status_code == 201, held.text
    paid = web.client.post(
        f"/api/v1/shows/{show_id}/holds/pay",
        headers=bearer,
        json={"payment_info": {"card_number": APPROVED.replace(" ", "")}},
    )
    assert paid.status_code == 200, paid.text


def test_a_customer_finds_a_show_picks_seats_by_keyboard_pays_and_cancels(web: Web) -> None:
    _, title = web.show("The Last Projectionist", ROWS, PRICES)
    page = web.page()

    # Browse: search the movie, choose the city and a showtime.
    page.goto("/app/")
    expect(page.get_by_role("heading", name="What would you like to watch?")).to_be_visible()
    page.get_by_label("Search movies").fill(title)
    page.get_by_role("link", name=re.compile(re.escape(title))).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.get_by_label("City").select_option("Pune")
    shot(page, "01-movie-showtimes")
    page.get_by_role("listitem", name=re.compile("Galaxy Multiplex")).first.click()

    # The seat map: categories and prices, each seat named for screen readers.
    premium = seat(page, "Row B seat 5", "premium, ₹400, available")
    expect(premium).to_be_visible()
    expect(page.get_by_text("Premium ₹400")).to_be_visible()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()
    shot(page, "02-seat-map")

    # Keyboard only: the map is one tab stop; arrows move, Enter and Space select.
    first = seat(page, "Row A seat 1")
    first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(seat(page, "Row B seat 2")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    expect(seat(page, "Row B seat 2")).to_have_attribute("aria-pressed", "true")
    expect(seat(page, "Row B seat 3")).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Hold 2 seats · ₹800").click()

    # Not signed in yet: the dialog registers a new account and the hold goes through.
    dialog = page.get_by_role("dialog", name="Sign in to continue")
    dialog.get_by_role("button", name="I'm new here").click()
    dialog.get_by_label("Your name").fill("Asha Rao")
    dialog.get_by_label("E-mail").fill(f"asha-{secrets.token_hex(4)}@example.com")
    dialog.get_by_label("Password").fill("correct-horse-battery")
    dialog.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your seats are held")).to_be_visible()
    expect(page.get_by_role("timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(seat(page, "Row B seat 2", "held for you")).to_be_visible()
    shot(page, "03-hold-countdown")

    # A declined card is said in words; the seats stay held; a good card books them.
    page.get_by_label("Card number").fill(DECLINED)
    page.get_by_role("button", name="Pay ₹800").click()
    expect(page.get_by_text(re.compile("Your card was declined and nothing was charged"))).to_be_visible()
    expect(page.get_by_role("heading", name="Your seats are held")).to_be_visible()
    page.get_by_label("Card number").fill(APPROVED)
    page.get_by_role("button", name="Pay ₹800").click()

    expect(page.get_by_role("heading", name="Booking confirmed")).to_be_visible()
    booking_id = page.url.split("/app/bookings/")[1].split("?")[0]
    # The phone's code: the signed token and its time-based part, changing every 15 s (docs/tickets.md).
    qr = page.get_by_role("img", name=f"QR code for booking {booking_id}, changes every 15 seconds")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("data-payload", re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+~\d{6}$"))
    payload = qr.get_attribute("data-payload")
    expect(page.get_by_text("B2 · B3")).to_be_visible()
    ticket = shot(page, "04-ticket", full_page=True)
    assert decode_qr(ticket) in (None, payload)  # a scanner reads the booking off the screen

    # My bookings lists it; cancelling asks first and says what is refunded.
    page.get_by_role("link", name="My bookings", exact=True).click()
    expect(page.get_by_role("link", name=re.compile(re.escape(title)))).to_be_visible()
    shot(page, "05-my-bookings")
    page.get_by_role("link", name=re.compile(re.escape(title))).click()
    page.get_by_role("button", name="Cancel booking").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel booking").click()
    expect(page.get_by_text(re.compile(r"Booking cancelled\. ₹[\d,.]+ will be refunded"))).to_be_visible()
    expect(page.get_by_text("Not valid")).to_be_visible()
    no_script_errors(page)


def test_on_a_phone_the_best_seats_are_one_tap_away(web: Web) -> None:
    show, _ = web.show("Monsoon Express", [*ROWS, {"row": "C", "seats": 20, "category": "premium"}], PRICES)
    page = web.page(web.person(name="Ravi"), viewport=PHONE)
    page.goto(f"/app/shows/{show.show_id}")
    expect(seat(page, "Row C seat 20", "available")).to_be_attached()
    expect(page.get_by_text("Live", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Find best seats")).to_be_visible()
    # The page itself never scrolls sideways (only the seat map may), and seats stay tappable.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = seat(page, "Row A seat 1").bounding_box()
    assert box is not None
    assert box["width"] >= 24
    assert box["height"] >= 24
    shot(page, "06-phone-seat-map", full_page=True)

    seat(page, "Row A seat 5").click()
    bar = page.get_by_role("button", name="Hold 1 seat · ₹250")
    expect(bar).to_be_in_viewport()  # the selection bar stays at the bottom of the screen
    shot(page, "07-phone-selection")
    page.get_by_role("button", name="Clear").click()

    page.get_by_label("Seats", exact=True).select_option("3")
    page.get_by_label("Category").select_option("premium")
    page.get_by_role("button", name="Find best seats").click()
    expect(page.get_by_role("heading", name="Your seats are held")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Seats B\d+, B\d+ and B\d+ are held for you for 10 minutes"))).to_be_visible()
    shot(page, "08-phone-best-seats-held", full_page=True)
    no_script_errors(page)


def test_two_people_want_one_seat_one_wins_and_the_other_sees_it_go(web: Web) -> None:
    show, _ = web.show("Kite Season", ROWS, PRICES)
    first = web.page(web.person(name="First"))
    second = web.page(web.person(name="Second"))
    for page in (first, second):
        page.goto(f"/app/shows/{show.show_id}")
        expect(page.get_by_text("Live", exact=True)).to_be_visible()
        seat(page, "Row A seat 5").click()
        expect(seat(page, "Row A seat 5")).to_have_attribute("aria-pressed", "true")

    first.get_by_role("button", name="Hold 1 seat · ₹250").click()
    expect(first.get_by_role("heading", name="Your seats are held")).to_be_visible()

    # Without reloading, the other page shows the seat taken, drops it and says so.
    expect(seat(second, "Row A seat 5", "held by someone else")).to_have_attribute("aria-disabled", "true")
    expect(seat(second, "Row A seat 5")).to_have_attribute("aria-pressed", "false")
    expect(second.get_by_text("Seat A5 was just taken by someone else. Please pick another seat.")).to_be_visible()
    expect(second.get_by_role("button", name="Hold seats")).to_be_disabled()
    shot(second, "09-seat-taken-live")

    # A seat taken between the last update and the click: the 409 is said in words too.
    racer = web.person(name="Racer")
    stale = web.page(web.person(name="Stale"))
    stale.route("**/seats/stream**", lambda route: route.abort())  # this page gets no live updates
    stale.goto(f"/app/shows/{show.show_id}")
    expect(seat(stale, "Row A seat 9", "available")).to_be_visible()
    taken = web.client.post(
        f"/api/v1/shows/{show.show_id}/holds",
        headers={"Authorization": f"Bearer {racer.token}"},
        json={"seats": ["A9"]},
    )
    assert taken.status_code == 201, taken.text
    seat(stale, "Row A seat 9").click()
    stale.get_by_role("button", name="Hold 1 seat · ₹250").click()
    expect(stale.get_by_text("Seat A9 was just taken by someone else. Please pick other seats.")).to_be_visible()
    expect(seat(stale, "Row A seat 9", "held by someone else")).to_be_visible()
    for page in (first, second, stale):
        no_script_errors(page)


def test_an_expired_hold_gives_the_seats_back_and_says_so(web: Web) -> None:
    show, _ = web.show("Orbitals", ROWS, PRICES, hold_ttl_seconds=4)
    page = web.page(web.person(name="Slow"))
    watcher = web.page()  # someone else looking at the same show
    for p in (page, watcher):
        p.goto(f"/app/shows/{show.show_id}")
        expect(p.get_by_text("Live", exact=True)).to_be_visible()
    seat(page, "Row B seat 1").click()
    page.get_by_role("button", name="Hold 1 seat · ₹400").click()
    expect(page.get_by_role("heading", name="Your seats are held")).to_be_visible()
    expect(seat(watcher, "Row B seat 1", "held by someone else")).to_be_visible()
    shot(page, "10-short-hold")

    expect(page.get_by_text(re.compile(r"Your hold on seat B1 expired and it went back on sale"))).to_be_visible()
    expect(page.get_by_role("heading", name="Your seats are held")).to_be_hidden()
    expect(seat(page, "Row B seat 1", "available")).to_be_visible()
    expect(seat(watcher, "Row B seat 1", "available")).to_be_visible()
    shot(page, "11-hold-expired")
    no_script_errors(page)


def test_an_admin_builds_a_theater_and_a_show_that_customers_then_book(web: Web) -> None:
    admin = web.page(web.admin())
    suffix = secrets.token_hex(3)
    title, city = f"Premiere {suffix}", f"Nagpur {suffix}"

    admin.goto("/app/admin/movies")
    admin.get_by_label("Title").fill(title)
    admin.get_by_label("Length (minutes)").fill("131")
    admin.get_by_label("Language").fill("Marathi")
    admin.get_by_label("Genres").fill("drama, music")
    admin.get_by_role("button", name="Add movie").click()
    expect(admin.get_by_text(f"“{title}” was added.")).to_be_visible()

    admin.get_by_role("link", name="Theaters & screens").click()
    admin.get_by_label("Name", exact=True).fill(f"Orange City Cinema {suffix}")
    admin.get_by_label("City").fill(city)
    admin.get_by_label("Address").fill("1 Sitabuldi Main Road")
    admin.get_by_role("button", name="Add theater").click()
    expect(admin.get_by_text(re.compile("was added. Now give it a screen."))).to_be_visible()

    # The seat-layout editor: rows front first, seats and a category each.
    admin.get_by_label("Screen name").fill("Audi 7")
    admin.get_by_label("Seats in row C").fill("12")
    admin.get_by_label("Rows", exact=True).fill("1")
    admin.get_by_label("Seats each").fill("6")
    admin.get_by_label("Category", exact=True).last.fill("recliner")
    admin.get_by_role("button", name="Add rows").click()
    expect(admin.get_by_text("4 rows, 38 seats: 20 standard, 12 premium, 6 recliner")).to_be_visible()
    shot(admin, "12-admin-screen-editor", full_page=True)
    admin.get_by_role("button", name="Create screen").click()
    expect(admin.get_by_text("Screen Audi 7 was created with 38 seats.")).to_be_visible()

    admin.get_by_role("link", name="Shows", exact=True).click()
    admin.get_by_label("Movie").select_option(label=title)
    admin.get_by_label("Theater").select_option(label=f"Orange City Cinema {suffix} ({city})")
    admin.get_by_label("Screen").select_option(label="Audi 7 · 38 seats")
    admin.get_by_label("Premium (₹)").fill("333")
    admin.get_by_role("button", name="Create show").click()
    link = admin.get_by_role("link", name="Open its seat map")
    expect(link).to_be_visible()
    show_id = (link.get_attribute("href") or "").rsplit("/", 1)[-1]
    shot(admin, "13-admin-show-created", full_page=True)

    # A customer finds it by city and sees its layout and prices.
    customer = web.page(web.person(name="Meera"))
    customer.goto("/app/")
    customer.get_by_label("City").select_option(city)
    customer.get_by_role("link", name=re.compile(re.escape(title))).click()
    customer.get_by_role("listitem", name=re.compile(f"Orange City Cinema {suffix}")).first.click()
    expect(seat(customer, "Row C seat 12", "premium, ₹333, available")).to_be_visible()
    expect(seat(customer, "Row D seat 6", "recliner, ₹550, available")).to_be_visible()
    assert customer.get_by_role("button", name=re.compile(r"^Row [A-D] seat \d+,")).count() == 38

    # The admin blocks a seat; the customer's map shows it off sale at once.
    admin.goto(f"/app/admin/shows/{show_id}")
    seat(admin, "Row A seat 1").click()
    admin.get_by_role("button", name="Block 1 seat").click()
    expect(admin.get_by_text(re.compile("Seat A1 taken off sale"))).to_be_visible()
    expect(seat(customer, "Row A seat 1", "not for sale")).to_be_visible()
    shot(admin, "14-admin-block-seats")

    # Someone books; the dashboard's charts count it.
    seat(customer, "Row C seat 6").click()
    customer.get_by_role("button", name="Hold 1 seat · ₹333").click()
    customer.get_by_label("Card number").fill(APPROVED)
    customer.get_by_role("button", name="Pay ₹333").click()
    expect(customer.get_by_role("heading", name="Booking confirmed")).to_be_visible()
    for seats in (["C1", "C2", "C3"], ["B4", "B5"], ["D1", "D2", "D3", "D4"]):  # a few more, for the charts
        book(web, show_id, seats)
    admin.goto("/app/admin/reports")
    expect(admin.get_by_role("img", name=re.compile(r"^Occupancy per show \(busiest"))).to_be_visible()
    expect(admin.get_by_role("img", name=re.compile("^Revenue per sales day"))).to_be_visible()
    shot(admin, "15-admin-reports", full_page=True)
    admin.goto("/app/admin/dead-letters")
    expect(admin.get_by_role("heading", name="Dead letters")).to_be_visible()
    shot(admin, "16-admin-dead-letters")
    for page in (admin, customer):
        no_script_errors(page)


def test_a_box_office_desk_sells_to_a_walk_in_and_prints_the_ticket(web: Web) -> None:
    show, title = web.show("Monsoon Express", ROWS, PRICES, starts_in=timedelta(hours=30))
    starts = datetime.now(UTC) + timedelta(hours=30)
    desk = web.page(web.person(role="box_office", name="Desk 1"))
    desk.goto("/app/box-office")
    desk.get_by_label("Theater").select_option(show.theater_id)
    desk.get_by_label("Day").fill(starts.astimezone(LOCAL).date().isoformat())
    desk.get_by_role("listitem").filter(has_text=title).click()
    expect(seat(desk, "Row A seat 3", "available")).to_be_visible()
    seat(desk, "Row A seat 3").click()
    seat(desk, "Row A seat 4").click()
    desk.get_by_label("Customer name").fill("Walk-in Kumar")

    desk.get_by_label("Card number").fill(DECLINED)
    desk.get_by_role("button", name="Sell 2 seats · ₹500").click()
    expect(desk.get_by_text(re.compile("The card was declined and nothing was charged"))).to_be_visible()
    desk.get_by_role("button", name="Test card").click()
    desk.get_by_role("button", name="Sell 2 seats · ₹500").click()

    expect(desk.get_by_text("Sold seats A3 and A4 to Walk-in Kumar for ₹500.")).to_be_visible()
    expect(desk.get_by_role("img", name=re.compile("^QR code for booking"))).to_be_visible()
    expect(desk.get_by_role("button", name="Print ticket")).to_be_visible()
    expect(seat(desk, "Row A seat 3", "sold")).to_be_visible()
    qr = desk.get_by_role("img", name=re.compile("^QR code for booking"))
    ticket = shot(desk, "17-box-office-ticket", full_page=True)
    assert decode_qr(ticket) in (None, qr.get_attribute("data-payload"))
    desk.emulate_media(media="print")  # printing shows the ticket, not the desk around it
    expect(desk.get_by_role("group", name=re.compile("^Seats for"))).to_be_hidden()
    expect(qr).to_be_visible()
    shot(desk, "18-box-office-print")
    desk.emulate_media(media="screen")
    bookings = web.client.get(f"/api/v1/admin/shows/{show.show_id}/ledger", headers=admin_headers(web.client))
    assert {e["seat_id"] for e in bookings.json() if e["event"] == "booked"} >= {"A3", "A4"}
    desk.get_by_role("button", name="Next customer").click()
    expect(desk.get_by_label("Customer name")).to_be_focused()
    no_script_errors(desk)


def test_a_late_answer_for_the_theater_shown_before_does_not_replace_the_desks_list(web: Web) -> None:
    """The desk opens on one theater and is switched to another at once: the first theater's list of
    shows, answering last, must not be drawn over the chosen theater's (it was, before each load
    checked it was still the latest)."""
    before, before_title = web.show("Earlier Hall", ROWS, PRICES, starts_in=timedelta(hours=30))
    chosen, chosen_title = web.show("Chosen Hall", ROWS, PRICES, starts_in=timedelta(hours=30))
    day = (datetime.now(UTC) + timedelta(hours=30)).astimezone(LOCAL).date().isoformat()
    desk = web.page(web.person(role="box_office", name="Desk 3"))
    held: list[Any] = []

    def hold_back_the_first_theater(route: Any) -> None:
        if f"theater_id={before.theater_id}" in route.request.url:
            held.append(route)  # answered later, from the test
        else:
            route.continue_()

    desk.route("**/api/v1/shows?*", hold_back_the_first_theater)
    desk.goto(f"/app/box-office?theater={before.theater_id}&day={day}")
    desk.get_by_label("Theater").select_option(chosen.theater_id)
    expect(desk.get_by_role("listitem").filter(has_text=chosen_title)).to_be_visible()
    assert held, "the first theater's list was never asked for"
    with desk.expect_response(lambda r: f"theater_id={before.theater_id}" in r.url):
        for route in held:
            route.continue_()
    desk.wait_for_timeout(1000)  # time for the late answer to be drawn, if it were
    expect(desk.get_by_role("listitem").filter(has_text=chosen_title)).to_be_visible()
    expect(desk.get_by_role("listitem").filter(has_text=before_title)).to_have_count(0)
    no_script_errors(desk)


def test_a_busy_or_unreachable_service_and_wrong_pages_are_said_in_words(web: Web) -> None:
    show, _ = web.show("Kite Season", ROWS, PRICES)
    page = web.page(web.person(name="Patient"))
    page.goto(f"/app/shows/{show.show_id}")
    expect(page.get_by_text("Live", exact=True)).to_be_visible()
    busy = {"type": "https://seatwise.dev/problems/unavailable", "title": "Service unavailable", "status": 503}
    page.route(
        "**/holds",
        lambda route: route.fulfill(
            status=503,
            headers={"Retry-After": "3", "Content-Type": "application/problem+json"},
            body=json.dumps({**busy, "detail": "the show's actor stopped; retry"}),
        ),
    )
    seat(page, "Row A seat 2").click()
    page.get_by_role("button", name="Hold 1 seat · ₹250").click()
    expect(page.get_by_text("The service is busy right now. Please try again in 3 seconds.")).to_be_visible()
    page.unroute("**/holds")
    page.route("**/holds", lambda route: route.abort())
    page.get_by_role("button", name="Hold 1 seat · ₹250").click()
    expect(page.get_by_text("Seatwise can't be reached. Check your connection and try again.")).to_be_visible()
    shot(page, "19-service-busy")

    page.goto("/app/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.goto("/app/admin/reports")
    expect(page.get_by_text("This page is for administrators. Your account is not an admin account.")).to_be_visible()
    page.goto("/app/shows/00000000-0000-0000-0000-000000000000")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("That show doesn't exist (any more).")).to_be_visible()
