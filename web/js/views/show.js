// Booking a show: the live seat map, choosing seats (or the best N of a category), holding them with a
// countdown, paying with a card, and on to the ticket.
//
// The seat map starts from GET /shows/{id}/seats and then follows the live stream; the signed-in
// person's holds come from GET …/holds and the stream's `hold` / `expired` events, and the countdown is
// computed here from `expires_at` (corrected by the server's `seconds_left`). Every refusal is shown in
// words: a seat taken meanwhile, a hold that expired, a declined card, a busy service.
//
// A show sold through a waiting room (`waiting_room: true`) sells only to accounts the room has admitted:
// a signed-in account that is neither admitted nor holding seats of it is sent to the queue page
// (views/queue.js), and a hold refused as `not-admitted` says so and links there.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import {
  announce,
  busy,
  field,
  formatCountdown,
  formatDateTime,
  formatMoney,
  formatTime,
  h,
  messageArea,
  mount,
  newKey,
  notice,
  plural,
} from "../dom.js";
import { followSeatMap } from "../live.js";
import { navigate } from "../router.js";
import { capitalise, SeatMap, seatLegend, seatMapLayout } from "../seatmap.js";
import { signInDialog } from "./signin.js";

const MAX_SEATS = 10;
const TEST_CARD = "4242 4242 4242 4242";

export function seatList(ids) {
  const names = [...ids];
  if (names.length === 1) return `Seat ${names[0]}`;
  return `Seats ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

export async function render(main, { id }) {
  const { show, movie, theater } = await catalog.showDetails(id);
  const queuePath = `/app/shows/${id}/queue`;
  const turn = show.waiting_room && session.signedIn() ? await roomAccess(id) : null;
  if (turn && !turn.admitted && !turn.holding) {
    navigate(queuePath, { replace: true });
    return;
  }
  const holds = new Map(); // hold id -> {id, seats, amount, fee, total, expiresAt (ms), extensions}
  let skewMs = 0; // server clock minus ours, from the stream's seconds_left
  let payKey = null;
  let warnedMinute = false;
  let stream = null;
  let timer = null;
  let suppressTaken = false;

  const area = messageArea();
  const messages = area.el;
  const say = area.say;
  const liveBadge = h("span", { class: "live-badge is-connecting" }, "Connecting…");

  const map = new SeatMap({
    label: `Seats for ${movie.title}, ${formatDateTime(show.starts_at)}`,
    maxSelection: MAX_SEATS,
    onChange: () => drawSelection(),
    onTaken: (ids) => {
      if (suppressTaken) return;
      say(
        `${seatList(ids)} ${ids.length === 1 ? "was" : "were"} just taken by someone else. Please pick ${
          ids.length === 1 ? "another seat" : "other seats"
        }.`,
        "warning",
      );
    },
    onRefused: (text) => say(text, "info"),
  });
  const legendBox = h("div", {});
  const selectionBox = h("section", { class: "panel selection", "aria-labelledby": "selection-title" });
  const bestBox = h("section", { class: "panel best", "aria-labelledby": "best-title" });
  const holdBox = h("section", { class: "panel hold", "aria-labelledby": "hold-title", hidden: true });

  // Persistent inputs, so redrawing the panels never loses what someone typed.
  const cardInput = h("input", {
    type: "text",
    name: "card",
    inputmode: "numeric",
    autocomplete: "cc-number",
    placeholder: TEST_CARD,
    pattern: "[0-9 ]{12,23}",
    required: true,
  });
  const countSelect = h(
    "select",
    { name: "count" },
    Array.from({ length: MAX_SEATS }, (_, i) => h("option", { value: i + 1, selected: i === 1 }, String(i + 1))),
  );
  const categories = Object.entries(show.prices).sort((a, b) => a[1] - b[1]);
  const categorySelect = h(
    "select",
    { name: "category" },
    categories.map(([c, price]) => h("option", { value: c }, `${capitalise(c)} · ${formatMoney(price)}`)),
  );

  const saleState = salesState(show);
  const scroller = h("div", { class: "seatmap-scroll" }, map.element);
  mount(
    main,
    h(
      "div",
      { class: "show-head" },
      h(
        "div",
        {},
        h("h1", {}, movie.title),
        h("p", { class: "muted" }, `${theater.name}, ${theater.city} · ${formatDateTime(show.starts_at)}`),
      ),
      liveBadge,
    ),
    saleState.open ? null : notice(saleState.message, "warning"),
    show.waiting_room ? roomNotice(turn, queuePath) : null,
    messages,
    seatMapLayout({
      legend: legendBox,
      map,
      scroller,
      side: h("aside", { class: "side-column", "aria-label": "Your seats" }, holdBox, selectionBox, bestBox),
      moreHelp: h("span", { class: "scroll-hint" }, " Swipe sideways to see every seat."),
    }),
  );

  // -- data -------------------------------------------------------------------------------------------

  const initial = await api(`shows/${id}/seats`, { auth: false });
  map.setSeats(initial.seats);
  const fit = () => {
    const overflowing = scroller.scrollWidth > scroller.clientWidth + 2;
    scroller.classList.toggle("is-overflowing", overflowing);
    // The best seats are in the middle: start there when the whole row does not fit.
    if (overflowing) scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2;
  };
  const resizeObserver = new ResizeObserver(fit);
  resizeObserver.observe(scroller);
  drawLegend();
  if (session.signedIn()) await loadHolds();
  drawSelection();
  drawBest();
  drawHold();

  stream = followSeatMap(id, map, drawLegend, {
    hold: (data) => onHoldEvent(data),
    expired: (data) => onExpired(data.hold_id, data.seats),
    status: (status) => {
      liveBadge.className = `live-badge is-${status}`;
      liveBadge.textContent = status === "live" ? "Live" : status === "reconnecting" ? "Reconnecting…" : "Offline";
      liveBadge.title =
        status === "live" ? "Seats update as other people hold and book them" : "Trying to reconnect to live updates";
    },
  });
  timer = setInterval(tick, 250);

  async function loadHolds() {
    try {
      const mine = await api(`shows/${id}/holds`);
      holds.clear();
      for (const hold of mine) setHold(hold);
    } catch (error) {
      if (error.status !== 401) say(error.message, "error");
    }
    syncMine();
  }

  function setHold(hold) {
    holds.set(hold.id, {
      id: hold.id,
      seats: hold.seats,
      amount: hold.amount,
      fee: hold.fee ?? 0,
      total: hold.total ?? hold.amount,
      expiresAt: Date.parse(hold.expires_at),
      extensions: hold.extensions ?? 0,
    });
  }

  function syncMine() {
    map.setMine([...holds.values()].flatMap((hold) => hold.seats));
    drawHold();
    drawSelection();
  }

  function onHoldEvent(data) {
    if (data.status === "active") {
      if (typeof data.seconds_left === "number" && data.seconds_left > 0) {
        skewMs = Date.parse(data.expires_at) - data.seconds_left * 1000 - Date.now();
        if (Math.abs(skewMs) < 1500) skewMs = 0; // the countdown's own rounding, not a clock difference
      }
      const known = holds.get(data.hold_id);
      if (known) {
        known.expiresAt = Date.parse(data.expires_at);
        syncMine();
      } else {
        loadHolds(); // a hold made in another tab: fetch its price
      }
    } else if (holds.has(data.hold_id)) {
      holds.delete(data.hold_id);
      syncMine();
      if (data.status === "confirmed") say(`${seatList(data.seats)}: paid and booked.`, "success");
      if (data.status === "closed") say("Sales for this show have closed; your hold has ended.", "warning");
    }
  }

  function onExpired(holdId, seats) {
    if (!holds.has(holdId)) return;
    holds.delete(holdId);
    syncMine();
    payKey = null;
    say(
      `Your hold on ${seatList(seats).replace(/^S/, "s")} expired and ${
        seats.length === 1 ? "it went" : "they went"
      } back on sale. Pick seats again to book.`,
      "error",
    );
  }

  function now() {
    return Date.now() + skewMs;
  }

  function tick() {
    const timerEl = holdBox.querySelector("[data-countdown]");
    if (!holds.size) return;
    const soonest = Math.min(...[...holds.values()].map((hold) => hold.expiresAt));
    const left = (soonest - now()) / 1000;
    if (timerEl) {
      timerEl.textContent = formatCountdown(left);
      timerEl.classList.toggle("urgent", left <= 60);
    }
    if (left <= 60 && !warnedMinute) {
      warnedMinute = true;
      announce("Less than a minute left to pay for your seats.");
    }
    for (const hold of [...holds.values()]) {
      if (hold.expiresAt <= now()) onExpired(hold.id, hold.seats);
    }
  }

  // -- actions ----------------------------------------------------------------------------------------

  async function ensureSignedIn(reason) {
    if (session.signedIn()) return true;
    const account = await signInDialog(reason);
    if (!account) return false;
    stream?.reopen(); // now with the token: the stream also follows this person's holds
    await loadHolds();
    return true;
  }

  async function requestHold(button, body, busyText) {
    if (!(await ensureSignedIn("Seats are held in your name while you pay."))) return;
    // The stream may announce these seats held before the answer arrives: they are ours, not taken.
    if (body.seats) map.setMine([...map.mine, ...body.seats]);
    try {
      const hold = await busy(button, busyText, () =>
        api(`shows/${id}/holds`, { method: "POST", json: body, idempotencyKey: newKey() }),
      );
      setHold(hold);
      warnedMinute = false;
      suppressTaken = true;
      map.clearSelection();
      suppressTaken = false;
      syncMine();
      const minutes = Math.max(1, Math.round((Date.parse(hold.expires_at) - Date.now()) / 60000));
      say(
        `${seatList(hold.seats)} ${hold.seats.length === 1 ? "is" : "are"} held for you for ${
          minutes === 1 ? "a minute" : `${minutes} minutes`
        }. Pay before the timer runs out.`,
        "success",
      );
      holdBox.querySelector("h2")?.focus();
    } catch (error) {
      suppressTaken = true;
      if (error.code === "seats-unavailable") map.markTaken(error.seats);
      syncMine();
      suppressTaken = false;
      if (error.code === "not-admitted") {
        say(
          [
            "Nothing was held: this show sells through a waiting room, and it is not your turn (or your turn has ended). ",
            h("a", { href: queuePath, "data-link": true }, "Go to the queue"),
          ],
          "error",
        );
        return;
      }
      say(error.explain({ 401: "Please sign in again to hold seats." }), "error");
    }
  }

  async function pay(button) {
    const card = cardInput.value.replace(/\s+/g, "");
    if (!/^[0-9]{12,19}$/.test(card)) {
      say("Please enter a card number (12 to 19 digits). For a test payment use 4242 4242 4242 4242.", "error");
      cardInput.focus();
      return;
    }
    payKey = payKey || newKey();
    try {
      const result = await busy(button, "Paying…", () =>
        api(`shows/${id}/holds/pay`, {
          method: "POST",
          json: { payment_info: { card_number: card } },
          idempotencyKey: payKey,
        }),
      );
      payKey = null;
      holds.clear();
      navigate(`/app/bookings/${result.booking_id}?confirmed=1`);
    } catch (error) {
      // A busy or unreachable payment service: the same key is safe to retry and never charges twice.
      if (error.status !== 503 && error.status !== 0) payKey = null;
      if (error.code === "hold-expired" || error.code === "hold-not-found") await loadHolds();
      say(
        error.explain({
          503: (p) =>
            `The payment service is busy. Your seats are still held for you: try again in ${
              p.retryAfter ? `${p.retryAfter} seconds` : "a few seconds"
            }.`,
          0: "Seatwise can't be reached, so the payment did not go through yet. Your seats stay held: try again.",
        }),
        "error",
      );
    }
  }

  async function extend(button, hold) {
    try {
      const updated = await busy(button, "Extending…", () =>
        api(`shows/${id}/holds/${hold.id}/extend`, { method: "POST" }),
      );
      setHold(updated);
      warnedMinute = false;
      syncMine();
      say("Your hold was extended.", "success");
    } catch (error) {
      if (error.code === "hold-expired" || error.code === "hold-not-found") await loadHolds();
      say(error.message, "error");
    }
  }

  async function release(button, hold) {
    try {
      await busy(button, "Releasing…", () => api(`shows/${id}/holds/${hold.id}`, { method: "DELETE" }));
      holds.delete(hold.id);
      syncMine();
      say(`${seatList(hold.seats)} went back on sale.`, "info");
    } catch (error) {
      if (error.code === "hold-not-found") await loadHolds();
      say(error.message, "error");
    }
  }

  // -- drawing ----------------------------------------------------------------------------------------

  function drawLegend() {
    mount(legendBox, seatLegend(map));
  }

  function drawSelection() {
    const chosen = map.selectedSeats();
    const total = chosen.reduce((sum, seat) => sum + seat.price, 0);
    const holdButton = h(
      "button",
      {
        type: "button",
        class: "primary",
        disabled: !chosen.length || !saleState.open,
        onclick: (e) => requestHold(e.currentTarget, { seats: chosen.map((s) => s.id) }, "Holding…"),
      },
      chosen.length ? `Hold ${plural(chosen.length, "seat")} · ${formatMoney(total)}` : "Hold seats",
    );
    selectionBox.classList.toggle("has-selection", chosen.length > 0);
    mount(
      selectionBox,
      h("h2", { id: "selection-title" }, holds.size ? "Add seats" : "Your selection"),
      chosen.length
        ? h("p", { class: "selected-list" }, chosen.map((s) => s.id).join(", "))
        : h("p", { class: "muted" }, "Choose seats on the map, or let us pick the best ones below."),
      h(
        "div",
        { class: "row-buttons" },
        holdButton,
        chosen.length
          ? h("button", { type: "button", class: "secondary", onclick: () => map.clearSelection() }, "Clear")
          : null,
      ),
    );
  }

  function drawBest() {
    const find = h(
      "button",
      {
        type: "submit",
        class: "secondary",
        disabled: !saleState.open,
      },
      "Find best seats",
    );
    mount(
      bestBox,
      h("h2", { id: "best-title" }, "Best available"),
      h(
        "form",
        {
          class: "inline-form",
          onsubmit: (e) => {
            e.preventDefault();
            requestHold(find, { count: Number(countSelect.value), category: categorySelect.value }, "Finding seats…");
          },
        },
        field("Seats", countSelect),
        field("Category", categorySelect),
        find,
      ),
      h("p", { class: "hint" }, "We pick seats next to each other, as central as possible, and hold them for you."),
    );
  }

  function drawHold() {
    if (!holds.size) {
      holdBox.hidden = true;
      holdBox.replaceChildren();
      return;
    }
    holdBox.hidden = false;
    const list = [...holds.values()];
    const seats = list.flatMap((hold) => hold.seats);
    const amount = list.reduce((sum, hold) => sum + hold.amount, 0);
    const fee = list.reduce((sum, hold) => sum + hold.fee, 0);
    const total = list.reduce((sum, hold) => sum + hold.total, 0);
    const soonest = Math.min(...list.map((hold) => hold.expiresAt));
    const payButton = h("button", { type: "submit", class: "primary" }, `Pay ${formatMoney(total)}`);
    mount(
      holdBox,
      h("h2", { id: "hold-title", tabindex: "-1" }, "Your seats are held"),
      h(
        "p",
        { class: "countdown-line" },
        "Time left to pay: ",
        h(
          "strong",
          { class: "countdown", role: "timer", "aria-live": "off", "data-countdown": true },
          formatCountdown((soonest - now()) / 1000),
        ),
      ),
      h("p", { class: "selected-list" }, seats.join(", ")),
      h(
        "dl",
        { class: "price-lines" },
        h("dt", {}, plural(seats.length, "ticket")),
        h("dd", {}, formatMoney(amount)),
        fee ? [h("dt", {}, "Convenience fee"), h("dd", {}, formatMoney(fee))] : null,
        h("dt", { class: "total" }, "Total"),
        h("dd", { class: "total" }, formatMoney(total)),
      ),
      h(
        "form",
        { class: "stack pay-form", onsubmit: (e) => (e.preventDefault(), pay(payButton)) },
        field(
          "Card number",
          cardInput,
          "Test cards: 4242 4242 4242 4242 is approved, 4000 0000 0000 0002 is declined.",
        ),
        payButton,
      ),
      h(
        "ul",
        { class: "hold-list" },
        list.map((hold) =>
          h(
            "li",
            {},
            h("span", {}, hold.seats.join(", ")),
            h(
              "span",
              { class: "row-buttons" },
              hold.extensions < 2
                ? h(
                    "button",
                    { type: "button", class: "link-button", onclick: (e) => extend(e.currentTarget, hold) },
                    "More time",
                  )
                : null,
              h(
                "button",
                { type: "button", class: "link-button", onclick: (e) => release(e.currentTarget, hold) },
                "Release",
              ),
            ),
          ),
        ),
      ),
    );
  }

  return () => {
    clearInterval(timer);
    resizeObserver.disconnect();
    stream?.close();
  };
}

/**
 * For a show sold through a waiting room: whether the signed-in account's turn is now (`admitted`, with
 * `entry`), or it holds seats of the show already (to pay for them after its turn ended).
 */
async function roomAccess(id) {
  const [entry, holds] = await Promise.all([
    api(`shows/${id}/queue`).catch(() => null), // 404: never joined
    api(`shows/${id}/holds`).catch(() => []),
  ]);
  return { entry, admitted: entry?.state === "admitted", holding: holds.length > 0 };
}

/** What the seat map of a show with a waiting room says about it, given roomAccess() (null: signed out). */
function roomNotice(turn, queuePath) {
  if (turn?.admitted) {
    return notice(
      `It's your turn from the waiting room: hold your seats before ${formatTime(turn.entry.admission_expires_at)}.`,
      "success",
    );
  }
  if (turn?.holding) return notice("Your turn in the waiting room has ended; you can still pay for the seats you hold.");
  return notice([
    "Tickets for this show are sold through a waiting room, in a fair order. ",
    h("a", { href: queuePath, "data-link": true }, "Join the queue"),
  ]);
}

/** Whether the show can be booked now, and if not, why (in words). */
export function salesState(show) {
  if (show.status === "cancelled") return { open: false, message: "This show was cancelled. Bookings were refunded." };
  if (show.on_sale) return { open: true, message: "" };
  if (show.sales_open_at && Date.parse(show.sales_open_at) > Date.now()) {
    return { open: false, message: `Sales open on ${formatDateTime(show.sales_open_at)}.` };
  }
  return { open: false, message: "Sales for this show have closed." };
}
