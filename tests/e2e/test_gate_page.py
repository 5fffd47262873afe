"""The door in a real browser (issue 20): the phone's rotating ticket code, the gate page scanning it
through a camera, and a gate that keeps admitting with the network cut, then syncs.

The camera is Chromium's fake capture device playing a file (``--use-file-for-fake-video-capture``): the
test photographs the QR code a customer's ticket page shows (a real ticket, its rotating code of the
moment), writes it as a Y4M video with Pillow, and the gate page reads it off its <video> (jsQR on canvas
frames, or the browser's BarcodeDetector where it has one). Chromium opens that file when the page asks
for the camera, not at launch, so one browser serves both the phone and the gate. Waiting is always for a
condition, never a fixed sleep, except waiting out the rest of a 15-second step when the code on the
screen is about to change (so the photographed code stays valid while it is scanned twice).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyotp
import pytest

try:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect
except ImportError:  # a dev install always has it; say so rather than fail to collect
    pytest.skip("playwright is not installed: pip install -e '.[dev]'", allow_module_level=True)

from PIL import Image

from tests.api_client import ShowFixture, admin_headers
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    WAIT_MS,
    Person,
    Web,
    browser_missing,
    no_script_errors,
    shot,
)

ROWS = [{"row": "A", "seats": 8, "category": "standard"}, {"row": "B", "seats": 8, "category": "premium"}]
PRICES = {"standard": 250.0, "premium": 400.0}
APPROVED = "4242424242424242"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CODE = re.compile(r"^[\w-]+\.[\w-]+\.[\w-]+~\d{6}$")  # <signed token>~<TOTP digits>
PERIOD = 15
LOCAL = ZoneInfo("Asia/Kolkata")  # the browsers' time zone (conftest.Web.context)
FRESH_ENOUGH = 8.0  # seconds left in the step at least, so the photographed code outlives two scans


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("camera") / "ticket.y4m"


@pytest.fixture(scope="module")
def browser(camera_file: Path) -> Iterator[Browser]:
    """conftest's browser, with a fake camera that plays ``camera_file`` (written by the test)."""
    reason = browser_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT_MS)
    camera = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera)
        try:
            yield launched
        finally:
            launched.close()


def bearer(who: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


def book(web: Web, show_id: str, seats: list[str], name: str) -> tuple[Person, str]:
    """A customer called ``name`` holds and pays for ``seats``: (the customer, the booking id)."""
    customer = web.person(name=name)
    held = web.client.post(f"/api/v1/shows/{show_id}/holds", headers=bearer(customer), json={"seats": seats})
    assert held.status_code == 201, held.text
    paid = web.client.post(
        f"/api/v1/shows/{show_id}/holds/pay",
        headers=bearer(customer),
        json={"payment_info": {"card_number": APPROVED}},
    )
    assert paid.status_code == 200, paid.text
    return customer, str(paid.json()["booking_id"])


def ticket(web: Web, who: Person, booking_id: str) -> dict[str, Any]:
    response = web.client.get(f"/api/v1/bookings/{booking_id}/ticket", headers=bearer(who))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def phone(web: Web, who: Person) -> Page:
    """A phone-sized page at 3 device pixels per CSS pixel (a QR code photographed crisp), signed in."""
    context: BrowserContext = web.browser.new_context(
        base_url=web.base_url, viewport=PHONE, device_scale_factor=3, locale="en-IN", timezone_id="Asia/Kolkata"
    )
    context.set_default_timeout(WAIT_MS)
    web.contexts.append(context)
    context.add_init_script(  # the session where the app keeps it, as conftest's contexts do
        f"localStorage.setItem('seatwise.token', {json.dumps(who.token)});"
        f"localStorage.setItem('seatwise.account', {json.dumps(json.dumps(who.account))});"
    )
    return context.new_page()


def open_gate(
    web: Web,
    steward: Person,
    show: ShowFixture,
    gate: str,
    title: str | None = None,
    viewport: ViewportSize | None = None,
) -> Page:
    """The gate page for ``show``, named ``gate`` and prepared for doors (the manifest downloaded). With
    ``title``, the show is found as a steward would (theater, day, showtime), else opened by its link."""
    page = web.page(steward, viewport)
    if title is None:
        page.goto(f"/app/gate?show={show.show_id}")
        page.get_by_label("Gate", exact=True).fill(gate)
        page.get_by_label("Gate", exact=True).press("Tab")
    else:
        page.goto("/app/gate")
        starts = web.client.get(f"/api/v1/shows/{show.show_id}").json()["starts_at"]
        page.get_by_label("Theater").select_option(show.theater_id)
        page.get_by_label("Day").fill(datetime.fromisoformat(starts).astimezone(LOCAL).date().isoformat())
        page.get_by_label("Gate", exact=True).fill(gate)
        page.locator("button.showtime", has_text=title).click()
        expect(page.locator("button.showtime", has_text=title)).to_have_attribute("aria-pressed", "true")
    page.get_by_role("button", name="Prepare for doors").click()
    expect(page.get_by_text("Ready for doors")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Prepared .*tickets? on the list"))).to_be_visible()
    return page


def write_y4m(png: Path, out: Path, frames: int = 10) -> None:
    """A short Y4M video (4:2:0, 10 frames a second) of ``png`` centred on white; Chromium loops it."""
    image = Image.open(png).convert("RGB")
    side = max(image.size) + 96
    side += side % 2
    frame = Image.new("RGB", (side, side), "white")
    frame.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (side // 2, side // 2)
    planes = y.tobytes() + cb.resize(half, Image.Resampling.BILINEAR).tobytes()
    planes += cr.resize(half, Image.Resampling.BILINEAR).tobytes()
    header = f"YUV4MPEG2 W{side} H{side} F10:1 Ip A1:1 C420jpeg\n".encode()
    out.write_bytes(header + (b"FRAME\n" + planes) * frames)


def claims(token: str) -> dict[str, Any]:
    """A ticket token's claims less the time it was signed (docs/tickets.md, "The code")."""
    part = token.split(".")[1]
    body: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    body.pop("iat")
    return body


def result(page: Page) -> Any:
    return page.locator(".gate-result")


def test_a_phones_rotating_code_is_scanned_by_the_gate_camera_admitted_once_then_already_in(
    web: Web, camera_file: Path
) -> None:
    show, title = web.show("Door Night", ROWS, PRICES, starts_in=timedelta(hours=2))
    customer, booking_id = book(web, show.show_id, ["B3", "B4"], "Asha Rao")
    issued = ticket(web, customer, booking_id)
    steward = web.person("gate", "Door Steward")
    gate = open_gate(web, steward, show, "North 3", title=title)

    # The customer's phone: the QR code is the rotating code of the moment, and it changes by itself.
    mobile = phone(web, customer)
    mobile.goto(f"/app/bookings/{booking_id}")
    qr = mobile.get_by_role("img", name=f"QR code for booking {booking_id}, changes every {PERIOD} seconds")
    expect(qr).to_be_visible()
    shown = qr.get_attribute("data-payload") or ""
    assert CODE.match(shown), shown
    assert claims(shown.split("~")[0]) == claims(issued["rotating"]["token"])  # signed anew each time: same claims
    totp = pyotp.TOTP(issued["rotating"]["secret"], digits=6, interval=PERIOD)
    assert totp.verify(shown.split("~")[1], valid_window=1)  # the phone's digits are the service's TOTP
    expect(mobile.get_by_text("Printed ticket — static code")).to_be_hidden()
    shot(mobile, "gate-01-ticket-rotating")
    mobile.screenshot(path=str(DOCS / "ticket-rotating.png"))

    # Photograph the code early in its step, so it is still valid for both scans below.
    left = float(mobile.locator(".code-rotating").get_attribute("data-seconds-left") or 0)
    if left < FRESH_ENOUGH:
        time.sleep(left + 0.5)
        expect(qr).not_to_have_attribute("data-payload", shown)
    for _ in range(3):  # the step may turn between reading the code and photographing it
        payload = qr.get_attribute("data-payload")
        png = camera_file.with_suffix(".png")
        qr.screenshot(path=str(png))
        if qr.get_attribute("data-payload") == payload:
            break
    assert payload
    assert CODE.match(payload)
    write_y4m(png, camera_file)

    # The print view carries the static code, marked as such.
    mobile.get_by_role("button", name="Print view (static code)").click()
    printed = mobile.get_by_role("img", name=f"QR code for booking {booking_id}, printed ticket (static code)")
    expect(printed).to_be_visible()
    assert claims(printed.get_attribute("data-payload") or "") == claims(issued["code"])  # k: s, static
    expect(mobile.get_by_text("Printed ticket — static code")).to_be_visible()

    # The gate's camera sees the phone: ADMIT with the holder and seats, then the same code is ALREADY IN.
    gate.get_by_role("button", name="Start camera").click()
    expect(gate.get_by_text(re.compile(r"read by (jsQR|BarcodeDetector)"))).to_be_visible()
    reader = gate.get_by_text(re.compile(r"read by (jsQR|BarcodeDetector)")).inner_text()
    expect(result(gate)).to_have_attribute("data-result", "admitted", timeout=15_000)
    expect(result(gate)).to_contain_text("ADMIT")
    expect(result(gate)).to_contain_text("Asha Rao")
    expect(result(gate)).to_contain_text("B3, B4")
    shot(gate, "gate-02-admit")
    gate.screenshot(path=str(DOCS / "gate-admit.png"))
    expect(result(gate)).to_have_attribute("data-result", "already_admitted", timeout=15_000)
    expect(result(gate)).to_contain_text("ALREADY IN")
    expect(result(gate)).to_contain_text("at North 3")
    gate.get_by_role("button", name="Stop camera").click()
    print(f"\ncamera scan: {reader}")
    no_script_errors(gate)
    no_script_errors(mobile)

    door = web.client.get(f"/api/v1/admin/shows/{show.show_id}/door", headers=admin_headers(web.client)).json()
    assert door["inside"] == 1
    assert door["seats_inside"] == 2
    assert [(m["gate"], m["entries"]) for m in door["per_minute"]] == [("North 3", 1)]


def test_offline_the_gate_admits_from_its_list_then_syncs_and_reports_the_conflict(web: Web) -> None:
    show, title = web.show("Door Night", ROWS, PRICES, starts_in=timedelta(hours=2))
    first, first_id = book(web, show.show_id, ["A1"], "Ravi Menon")
    second, second_id = book(web, show.show_id, ["A5", "A6"], "Meera Iyer")
    other_show, _ = web.show("Other Night", ROWS, PRICES, starts_in=timedelta(hours=3))
    stranger, stranger_id = book(web, other_show.show_id, ["A1"], "Someone Else")
    steward = web.person("gate", "Door Steward")
    gate = open_gate(web, steward, show, "West 1", viewport=PHONE)  # door staff on a phone
    expect(gate.locator(".gate-status")).to_contain_text("Online")
    codes = gate.get_by_label("Ticket code")

    gate.context.set_offline(True)
    expect(gate.locator(".gate-status")).to_contain_text("Offline — 0 to sync")

    # A phone's rotating code, typed in: the signature and the digits checked here, against the list.
    first_ticket = ticket(web, first, first_id)
    rotating = first_ticket["rotating"]
    digits = pyotp.TOTP(rotating["secret"], digits=6, interval=PERIOD).now()
    codes.fill(f"{rotating['token']}~{digits}")
    codes.press("Enter")
    expect(result(gate)).to_have_attribute("data-result", "admitted")
    expect(result(gate)).to_contain_text("Ravi Menon")
    expect(result(gate)).to_contain_text("Decided offline by this gate")
    expect(gate.locator(".gate-status")).to_contain_text("Offline — 1 to sync")

    # The same ticket's printed code: in already (this gate's own record). Altered or foreign codes: invalid.
    codes.fill(first_ticket["code"])
    codes.press("Enter")
    expect(result(gate)).to_have_attribute("data-result", "already_admitted")
    expect(result(gate)).to_contain_text("at West 1")
    token = first_ticket["code"]
    altered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    codes.fill(altered)
    codes.press("Enter")
    expect(result(gate)).to_contain_text("Forged or altered")
    codes.fill(ticket(web, stranger, stranger_id)["code"])
    codes.press("Enter")
    expect(result(gate)).to_contain_text("A ticket for another show")
    # A screenshot of the second ticket's phone, three steps old: its digits have expired, offline too.
    second_ticket = ticket(web, second, second_id)
    old = pyotp.TOTP(second_ticket["rotating"]["secret"], digits=6, interval=PERIOD).at(time.time() - 3 * PERIOD)
    codes.fill(f"{second_ticket['rotating']['token']}~{old}")
    codes.press("Enter")
    expect(result(gate)).to_contain_text("The live code has expired")
    expect(gate.locator(".gate-status")).to_contain_text("Offline — 1 to sync")

    # Meanwhile a gate with network admits the second ticket; this offline gate cannot know.
    online = web.client.post(
        f"/api/v1/shows/{show.show_id}/check-ins",
        headers=bearer(steward),
        json={"code": second_ticket["code"], "gate": "East 2"},
    )
    assert online.json()["result"] == "admitted", online.text
    codes.fill(second_ticket["code"])
    codes.press("Enter")
    expect(result(gate)).to_have_attribute("data-result", "admitted")
    expect(gate.locator(".gate-status")).to_contain_text("Offline — 2 to sync")
    shot(gate, "gate-03-offline")
    gate.screenshot(path=str(DOCS / "gate-offline.png"))

    # The network is back: both scans are sent, the second is reported as a conflict, here and to the admins.
    gate.context.set_offline(False)
    expect(gate.get_by_text("Synced 2 offline scans. 1 conflict")).to_be_visible()
    expect(gate.locator(".gate-status")).to_contain_text("Online — every scan is with the service")
    expect(gate.locator(".gate-conflicts")).to_contain_text("Meera Iyer")
    expect(gate.locator(".gate-conflicts")).to_contain_text("at East 2")

    door = web.client.get(f"/api/v1/admin/shows/{show.show_id}/door", headers=admin_headers(web.client)).json()
    assert door["inside"] == 2
    assert door["seats_inside"] == 3
    assert sorted((m["gate"], m["entries"]) for m in door["per_minute"]) == [("East 2", 1), ("West 1", 1)]
    assert [(c["booking_id"], c["gate"], c["first_gate"]) for c in door["conflicts"]] == [
        (second_id, "West 1", "East 2")
    ]

    # The admins' door view says the same.
    admin = web.page(web.admin())
    admin.goto("/app/admin/door")
    admin.get_by_label("Theater").select_option(show.theater_id)
    admin.get_by_role("link", name=re.compile(f"{title}$")).click()
    expect(admin.get_by_role("heading", name=f"Door: {title}")).to_be_visible()
    expect(admin.locator("[data-figure=share-in]")).to_have_text("100.0%")
    expect(admin.get_by_role("heading", name="Conflicts (1)")).to_be_visible()
    expect(admin.locator(".door-conflicts")).to_contain_text(second_id)
    expect(admin.get_by_role("figure", name="West 1: 1 entry")).to_be_visible()
    expect(admin.get_by_role("figure", name="East 2: 1 entry")).to_be_visible()
    shot(admin, "gate-04-door-view", full_page=True)
    admin.screenshot(path=str(DOCS / "gate-door.png"), full_page=True)
    no_script_errors(gate)
    no_script_errors(admin)
