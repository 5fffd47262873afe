// What a booking page does with the signed-in person's holds of one show, whatever the show's map looks
// like (a cinema's seat map, or a venue's sections and standing zones): hold (seats by id, the best N of a
// category or of a section), count down, extend, release and pay, and the "Your seats are held" panel.
// The cinema page (views/show.js) and the venue page (views/show-venue.js) both use one HoldDesk, so a
// stadium's hold and payment are the very flow a cinema's are.
//
// The holds come from GET …/holds and the seat stream's `hold` / `expired` events; the countdown is
// computed here from `expires_at` (corrected by the server's `seconds_left`). Every refusal is shown in
// words: a seat taken meanwhile, a hold that expired, a declined card, a busy service, a waiting room.
// Also the "Your selection" panel both pages put beside a seat map.

import { api, session } from "./api.js";
import { announce, busy, field, formatCountdown, formatMoney, h, mount, newKey, plural } from "./dom.js";
import { navigate } from "./router.js";
import { signInDialog } from "./views/signin.js";

export const TEST_CARD = "4242 4242 4242 4242";

export function seatList(ids) {
  const names = [...ids];
  if (names.length === 1) return `Seat ${names[0]}`;
  return `Seats ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

export class HoldDesk {
  /**
   * options: showId, say(text, kind) (the page's message area), queuePath (a show with a waiting room),
   * describe(ids) (the places' names in a sentence, default seatList), mineChanged(seatIds) (the places
   * held now, to paint them), signedIn() (the person signed in through the dialog: reopen the stream),
   * title (the panel's heading).
   */
  constructor(options) {
    this.options = {
      describe: seatList,
      mineChanged: () => {},
      signedIn: () => {},
      title: "Your seats are held",
      ...options,
    };
    this.holds = new Map(); // hold id -> {id, seats, amount, fee, total, expiresAt (ms), extensions}
    this.skewMs = 0; // server clock minus ours, from the stream's seconds_left
    this.payKey = null;
    this.warnedMinute = false;
    this.timer = null;
    this.box = h("section", { class: "panel hold", "aria-labelledby": "hold-title", hidden: true });
    // Persistent, so redrawing the panel never loses what someone typed.
    this.cardInput = h("input", {
      type: "text",
      name: "card",
      inputmode: "numeric",
      autocomplete: "cc-number",
      placeholder: TEST_CARD,
      pattern: "[0-9 ]{12,23}",
      required: true,
    });
  }

  get say() {
    return this.options.say;
  }

  /** Every seat of every hold. */
  seats() {
    return [...this.holds.values()].flatMap((hold) => hold.seats);
  }

  start() {
    this.timer = setInterval(() => this.tick(), 250);
  }

  stop() {
    clearInterval(this.timer);
  }

  async load() {
    try {
      const mine = await api(`shows/${this.options.showId}/holds`);
      this.holds.clear();
      for (const hold of mine) this.set(hold);
    } catch (error) {
      if (error.status !== 401) this.say(error.message, "error");
    }
    this.sync();
  }

  set(hold) {
    this.holds.set(hold.id, {
      id: hold.id,
      seats: hold.seats,
      amount: hold.amount,
      fee: hold.fee ?? 0,
      total: hold.total ?? hold.amount,
      expiresAt: Date.parse(hold.expires_at),
      extensions: hold.extensions ?? 0,
    });
  }

  sync() {
    this.options.mineChanged(this.seats());
    this.draw();
  }

  /** The stream's `hold` event (for this person only). */
  onHoldEvent(data) {
    if (data.status === "active") {
      if (typeof data.seconds_left === "number" && data.seconds_left > 0) {
        this.skewMs = Date.parse(data.expires_at) - data.seconds_left * 1000 - Date.now();
        if (Math.abs(this.skewMs) < 1500) this.skewMs = 0; // the countdown's own rounding, not a clock difference
      }
      const known = this.holds.get(data.hold_id);
      if (known) {
        known.expiresAt = Date.parse(data.expires_at);
        this.sync();
      } else {
        this.load(); // a hold made in another tab: fetch its price
      }
    } else if (this.holds.has(data.hold_id)) {
      this.holds.delete(data.hold_id);
      this.sync();
      if (data.status === "confirmed") this.say(`${this.options.describe(data.seats)}: paid and booked.`, "success");
      if (data.status === "closed") this.say("Sales for this show have closed; your hold has ended.", "warning");
    }
  }

  /** A hold lapsed (the stream's `expired` event, or the countdown here reaching zero). */
  onExpired(holdId, seats) {
    if (!this.holds.has(holdId)) return;
    this.holds.delete(holdId);
    this.sync();
    this.payKey = null;
    this.say(
      `Your hold on ${this.options.describe(seats).replace(/^S/, "s")} expired and ${
        seats.length === 1 ? "it went" : "they went"
      } back on sale. Pick seats again to book.`,
      "error",
    );
  }

  now() {
    return Date.now() + this.skewMs;
  }

  tick() {
    if (!this.holds.size) return;
    const timerEl = this.box.querySelector("[data-countdown]");
    const soonest = Math.min(...[...this.holds.values()].map((hold) => hold.expiresAt));
    const left = (soonest - this.now()) / 1000;
    if (timerEl) {
      timerEl.textContent = formatCountdown(left);
      timerEl.classList.toggle("urgent", left <= 60);
    }
    if (left <= 60 && !this.warnedMinute) {
      this.warnedMinute = true;
      announce("Less than a minute left to pay for your seats.");
    }
    for (const hold of [...this.holds.values()]) {
      if (hold.expiresAt <= this.now()) this.onExpired(hold.id, hold.seats);
    }
  }

  // -- actions ----------------------------------------------------------------------------------------

  async ensureSignedIn(reason) {
    if (session.signedIn()) return true;
    const account = await signInDialog(reason);
    if (!account) return false;
    this.options.signedIn();
    await this.load();
    return true;
  }

  /**
   * POST a hold `body` ({seats}, {count, category} or {count, section}) while `button` says `busyText`.
   * hooks: before() (just before the request), held(hold), failed(error) (before the refusal is said).
   * Resolves to the hold, or null when it was refused (and said) or the person did not sign in.
   */
  async request(button, body, busyText, hooks = {}) {
    if (!(await this.ensureSignedIn("Seats are held in your name while you pay."))) return null;
    hooks.before?.();
    try {
      const hold = await busy(button, busyText, () =>
        api(`shows/${this.options.showId}/holds`, { method: "POST", json: body, idempotencyKey: newKey() }),
      );
      this.set(hold);
      this.warnedMinute = false;
      hooks.held?.(hold);
      this.sync();
      const minutes = Math.max(1, Math.round((Date.parse(hold.expires_at) - Date.now()) / 60000));
      this.say(
        `${this.options.describe(hold.seats)} ${hold.seats.length === 1 ? "is" : "are"} held for you for ${
          minutes === 1 ? "a minute" : `${minutes} minutes`
        }. Pay before the timer runs out.`,
        "success",
      );
      this.box.querySelector("h2")?.focus();
      return hold;
    } catch (error) {
      hooks.failed?.(error);
      this.sync();
      if (error.code === "not-admitted") {
        this.say(
          [
            "Nothing was held: this show sells through a waiting room, and it is not your turn (or your turn has ended). ",
            h("a", { href: this.options.queuePath, "data-link": true }, "Go to the queue"),
          ],
          "error",
        );
        return null;
      }
      this.say(error.explain({ 401: "Please sign in again to hold seats." }), "error");
      return null;
    }
  }

  async pay(button) {
    const card = this.cardInput.value.replace(/\s+/g, "");
    if (!/^[0-9]{12,19}$/.test(card)) {
      this.say("Please enter a card number (12 to 19 digits). For a test payment use 4242 4242 4242 4242.", "error");
      this.cardInput.focus();
      return;
    }
    this.payKey = this.payKey || newKey();
    try {
      const result = await busy(button, "Paying…", () =>
        api(`shows/${this.options.showId}/holds/pay`, {
          method: "POST",
          json: { payment_info: { card_number: card } },
          idempotencyKey: this.payKey,
        }),
      );
      this.payKey = null;
      this.holds.clear();
      navigate(`/app/bookings/${result.booking_id}?confirmed=1`);
    } catch (error) {
      // A busy or unreachable payment service: the same key is safe to retry and never charges twice.
      if (error.status !== 503 && error.status !== 0) this.payKey = null;
      if (error.code === "hold-expired" || error.code === "hold-not-found") await this.load();
      this.say(
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

  async extend(button, hold) {
    try {
      const updated = await busy(button, "Extending…", () =>
        api(`shows/${this.options.showId}/holds/${hold.id}/extend`, { method: "POST" }),
      );
      this.set(updated);
      this.warnedMinute = false;
      this.sync();
      this.say("Your hold was extended.", "success");
    } catch (error) {
      if (error.code === "hold-expired" || error.code === "hold-not-found") await this.load();
      this.say(error.message, "error");
    }
  }

  async release(button, hold) {
    try {
      await busy(button, "Releasing…", () =>
        api(`shows/${this.options.showId}/holds/${hold.id}`, { method: "DELETE" }),
      );
      this.holds.delete(hold.id);
      this.sync();
      this.say(`${this.options.describe(hold.seats)} went back on sale.`, "info");
    } catch (error) {
      if (error.code === "hold-not-found") await this.load();
      this.say(error.message, "error");
    }
  }

  // -- drawing ----------------------------------------------------------------------------------------

  draw() {
    const box = this.box;
    if (!this.holds.size) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    box.hidden = false;
    const list = [...this.holds.values()];
    const seats = list.flatMap((hold) => hold.seats);
    const sum = (key) => list.reduce((total, hold) => total + hold[key], 0);
    const soonest = Math.min(...list.map((hold) => hold.expiresAt));
    const payButton = h("button", { type: "submit", class: "primary" }, `Pay ${formatMoney(sum("total"))}`);
    const fee = sum("fee");
    mount(
      box,
      h("h2", { id: "hold-title", tabindex: "-1" }, this.options.title),
      h(
        "p",
        { class: "countdown-line" },
        "Time left to pay: ",
        h(
          "strong",
          { class: "countdown", role: "timer", "aria-live": "off", "data-countdown": true },
          formatCountdown((soonest - this.now()) / 1000),
        ),
      ),
      h("p", { class: "selected-list" }, seats.join(", ")),
      h(
        "dl",
        { class: "price-lines" },
        h("dt", {}, plural(seats.length, "ticket")),
        h("dd", {}, formatMoney(sum("amount"))),
        fee ? [h("dt", {}, "Convenience fee"), h("dd", {}, formatMoney(fee))] : null,
        h("dt", { class: "total" }, "Total"),
        h("dd", { class: "total" }, formatMoney(sum("total"))),
      ),
      h(
        "form",
        { class: "stack pay-form", onsubmit: (e) => (e.preventDefault(), this.pay(payButton)) },
        field(
          "Card number",
          this.cardInput,
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
                    { type: "button", class: "link-button", onclick: (e) => this.extend(e.currentTarget, hold) },
                    "More time",
                  )
                : null,
              h(
                "button",
                { type: "button", class: "link-button", onclick: (e) => this.release(e.currentTarget, hold) },
                "Release",
              ),
            ),
          ),
        ),
      ),
    );
  }
}

/**
 * The "Your selection" panel of a seat map: the seats chosen, "Hold N seats · ₹…" and "Clear".
 * options: open (sales are open), holding (the person holds seats already), hold(button, seatIds).
 */
export function selectionPanel(box, map, { open, holding, hold }) {
  const chosen = map.selectedSeats();
  const total = chosen.reduce((sum, seat) => sum + seat.price, 0);
  const holdButton = h(
    "button",
    {
      type: "button",
      class: "primary",
      disabled: !chosen.length || !open,
      onclick: (e) => hold(e.currentTarget, chosen.map((s) => s.id)),
    },
    chosen.length ? `Hold ${plural(chosen.length, "seat")} · ${formatMoney(total)}` : "Hold seats",
  );
  box.classList.toggle("has-selection", chosen.length > 0);
  mount(
    box,
    h("h2", { id: "selection-title" }, holding ? "Add seats" : "Your selection"),
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
