// The seat map: one button per seat, rows front (nearest the screen) first, coloured by category.
//
// Keyboard: the map is one tab stop (roving tabindex); arrow keys move between seats (up and down go to
// the nearest seat of the next row), Home / End jump to the ends of a row, Enter or Space selects.
// Screen readers hear each seat as "Row A seat 5, premium, ₹400, available" and whether it is selected
// (aria-pressed); seats that cannot be chosen are aria-disabled, not disabled, so they can still be
// reached and read. Live changes (someone else's hold, a booking) update a seat in place; a seat that was
// selected here and is taken elsewhere leaves the selection and onTaken() reports it.

import { formatMoney, h } from "./dom.js";

const STATUS_WORDS = {
  available: "available",
  held: "held by someone else",
  booked: "sold",
  blocked: "not for sale",
  mine: "held for you",
};

export class SeatMap {
  /**
   * options: label (accessible name of the map), mode "customer" | "admin" (admins select available or
   * blocked seats, to block or unblock), maxSelection, onChange(selectedIds), onTaken(seatIds), front
   * (what the front row faces: "Screen this way", or a venue's "Stage this way").
   */
  constructor(options = {}) {
    this.options = { mode: "customer", maxSelection: 10, front: "Screen this way", ...options };
    this.seats = new Map(); // id -> {id,row,number,category,price,status,version}
    this.buttons = new Map(); // id -> button
    this.selected = new Set();
    this.mine = new Set();
    this.categoryIndex = new Map();
    this.focusId = null;
    this.element = h("div", {
      class: "seatmap",
      role: "group",
      "aria-label": this.options.label || "Seat map",
      "aria-describedby": "seatmap-help",
    });
    this.element.addEventListener("keydown", (e) => this.onKey(e));
    this.element.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-seat]");
      if (button) this.toggle(button.dataset.seat);
    });
    this.element.addEventListener("focusin", (e) => {
      const button = e.target.closest("button[data-seat]");
      if (button) this.setFocus(button.dataset.seat, false);
    });
  }

  /** Replace every seat (a snapshot or the REST seat map). Versions restart from the snapshot's. */
  setSeats(seats) {
    const layoutChanged = seats.length !== this.seats.size || seats.some((s) => !this.seats.has(s.id));
    this.seats = new Map(seats.map((s) => [s.id, { ...s, version: s.version ?? 0 }]));
    const prices = new Map();
    for (const s of seats) if (!prices.has(s.category)) prices.set(s.category, s.price);
    const ordered = [...prices.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
    this.categoryIndex = new Map(ordered.map(([c], i) => [c, i]));
    if (layoutChanged) this.draw();
    const taken = [];
    for (const seat of this.seats.values()) {
      if (this.selected.has(seat.id) && this.lost(seat)) taken.push(seat.id);
      this.paint(seat.id);
    }
    this.dropFromSelection(taken);
  }

  /** Apply a `seats` event's changes: [{seat, status, version}]; older versions are ignored. */
  applyChanges(changes) {
    const taken = [];
    for (const change of changes) {
      const seat = this.seats.get(change.seat);
      if (!seat || (change.version !== undefined && change.version <= seat.version)) continue;
      seat.status = change.status;
      if (change.version !== undefined) seat.version = change.version;
      if (this.selected.has(seat.id) && this.lost(seat)) taken.push(seat.id);
      this.paint(seat.id);
    }
    this.dropFromSelection(taken);
  }

  /** Mark seats as one's own (held by the signed-in person, or being held or sold by this page right
   * now: the stream may report them held before the request answers). */
  setMine(seatIds) {
    const before = this.mine;
    this.mine = new Set(seatIds);
    for (const id of new Set([...before, ...this.mine])) this.paint(id);
    this.dropFromSelection([...this.selected].filter((id) => this.lost(this.seats.get(id))));
  }

  /** A selected seat that someone else took meanwhile. */
  lost(seat) {
    return Boolean(seat) && !this.selectable(seat) && !this.mine.has(seat.id);
  }

  /** Set seats' statuses locally (e.g. from a 409 answer naming taken seats) until the stream confirms. */
  markTaken(seatIds) {
    for (const id of seatIds) {
      const seat = this.seats.get(id);
      if (seat && seat.status === "available") {
        seat.status = "held";
        this.paint(id);
      }
    }
    this.dropFromSelection(seatIds.filter((id) => this.selected.has(id)));
  }

  categories() {
    return [...this.categoryIndex.keys()].map((category) => ({
      category,
      price: [...this.seats.values()].find((s) => s.category === category)?.price ?? 0,
      index: this.categoryIndex.get(category),
      available: [...this.seats.values()].filter((s) => s.category === category && this.statusOf(s) === "available")
        .length,
    }));
  }

  statusOf(seat) {
    if (this.mine.has(seat.id) && seat.status === "held") return "mine";
    return seat.status;
  }

  selectable(seat) {
    const status = this.statusOf(seat);
    if (this.options.mode === "admin") return status === "available" || status === "blocked";
    return status === "available";
  }

  selectedSeats() {
    return [...this.selected].map((id) => this.seats.get(id)).filter(Boolean);
  }

  clearSelection() {
    const ids = [...this.selected];
    this.selected.clear();
    ids.forEach((id) => this.paint(id));
    this.changed();
  }

  toggle(id) {
    const seat = this.seats.get(id);
    if (!seat) return;
    this.setFocus(id, true);
    if (this.selected.has(id)) {
      this.selected.delete(id);
    } else {
      if (!this.selectable(seat)) {
        this.options.onRefused?.(`${this.nameOf(seat)}: this seat can't be chosen.`);
        return;
      }
      if (this.selected.size >= this.options.maxSelection) {
        this.options.onRefused?.(`You can choose up to ${this.options.maxSelection} seats at a time.`);
        return;
      }
      this.selected.add(id);
    }
    this.paint(id);
    this.changed();
  }

  // -- drawing ----------------------------------------------------------------------------------------

  draw() {
    this.buttons.clear();
    const rows = new Map();
    for (const seat of this.seats.values()) {
      if (!rows.has(seat.row)) rows.set(seat.row, []);
      rows.get(seat.row).push(seat);
    }
    const widest = Math.max(1, ...[...rows.values()].map((r) => r.length));
    this.element.style.setProperty("--cols", String(widest));
    this.rows = [...rows.entries()].map(([row, seats]) => ({
      row,
      seats: seats.sort((a, b) => a.number - b.number).map((s) => s.id),
    }));
    const rowEls = this.rows.map(({ row, seats }) =>
      h(
        "div",
        { class: "seat-row", role: "group", "aria-label": `Row ${row}` },
        h("span", { class: "row-label", "aria-hidden": "true" }, row),
        h(
          "div",
          { class: "seats" },
          seats.map((id) => {
            const seat = this.seats.get(id);
            const button = h(
              "button",
              { type: "button", class: "seat", "data-seat": id, tabindex: "-1", "aria-pressed": "false" },
              h("span", { class: "seat-number", "aria-hidden": "true" }, String(seat.number)),
            );
            this.buttons.set(id, button);
            return button;
          }),
        ),
        h("span", { class: "row-label", "aria-hidden": "true" }, row),
      ),
    );
    this.element.replaceChildren(
      h("div", { class: "screen", "aria-hidden": "true" }, this.options.front),
      h("div", { class: "seat-rows" }, rowEls),
    );
    const first = [...this.seats.values()].find((s) => this.selectable(s)) || this.seats.values().next().value;
    this.focusId = null;
    if (first) this.setFocus(first.id, false);
  }

  nameOf(seat) {
    return `Row ${seat.row} seat ${seat.number}, ${seat.category}, ${formatMoney(seat.price)}, ${
      STATUS_WORDS[this.statusOf(seat)] || seat.status
    }`;
  }

  paint(id) {
    const seat = this.seats.get(id);
    const button = this.buttons.get(id);
    if (!seat || !button) return;
    const status = this.statusOf(seat);
    const selected = this.selected.has(id);
    button.className = `seat cat-${Math.min(this.categoryIndex.get(seat.category) ?? 0, 5)} is-${status}${
      selected ? " is-selected" : ""
    }`;
    button.setAttribute("aria-label", this.nameOf(seat));
    button.setAttribute("aria-pressed", selected ? "true" : "false");
    if (this.selectable(seat) || selected) button.removeAttribute("aria-disabled");
    else button.setAttribute("aria-disabled", "true");
    button.title = this.nameOf(seat);
  }

  // -- selection and focus ----------------------------------------------------------------------------

  dropFromSelection(ids) {
    if (!ids.length) return;
    ids.forEach((id) => {
      this.selected.delete(id);
      this.paint(id);
    });
    this.changed();
    this.options.onTaken?.(ids);
  }

  changed() {
    this.options.onChange?.([...this.selected]);
  }

  setFocus(id, move) {
    if (this.focusId && this.buttons.get(this.focusId)) this.buttons.get(this.focusId).tabIndex = -1;
    this.focusId = id;
    const button = this.buttons.get(id);
    if (!button) return;
    button.tabIndex = 0;
    if (move) {
      button.focus({ preventScroll: true });
      button.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  onKey(event) {
    if (!this.focusId || !this.rows) return;
    const seat = this.seats.get(this.focusId);
    const rowIndex = this.rows.findIndex((r) => r.row === seat.row);
    const row = this.rows[rowIndex].seats;
    const at = row.indexOf(seat.id);
    let target = null;
    switch (event.key) {
      case "ArrowLeft":
        target = row[Math.max(0, at - 1)];
        break;
      case "ArrowRight":
        target = row[Math.min(row.length - 1, at + 1)];
        break;
      case "Home":
        target = row[0];
        break;
      case "End":
        target = row[row.length - 1];
        break;
      case "ArrowUp":
      case "ArrowDown": {
        const next = this.rows[rowIndex + (event.key === "ArrowUp" ? -1 : 1)];
        if (next) target = this.nearestIn(next.seats, seat.id);
        else target = seat.id;
        break;
      }
      default:
        return;
    }
    event.preventDefault();
    if (target) this.setFocus(target, true);
  }

  /** The seat of `rowSeats` nearest on screen to seat `fromId` (rows differ in length and are centred). */
  nearestIn(rowSeats, fromId) {
    const from = this.buttons.get(fromId).getBoundingClientRect();
    const x = from.left + from.width / 2;
    let best = rowSeats[0];
    let distance = Infinity;
    for (const id of rowSeats) {
      const r = this.buttons.get(id).getBoundingClientRect();
      const d = Math.abs(r.left + r.width / 2 - x);
      if (d < distance) {
        distance = d;
        best = id;
      }
    }
    return best;
  }
}

/** The legend: a swatch per category with its price, and the seat states. */
export function seatLegend(map) {
  return h(
    "div",
    { class: "legend", "aria-label": "Seat categories and states" },
    h(
      "ul",
      { class: "legend-list" },
      map
        .categories()
        .map((c) =>
          h(
            "li",
            {},
            h("span", { class: `swatch seat cat-${Math.min(c.index, 5)} is-available`, "aria-hidden": "true" }),
            h("span", {}, `${capitalise(c.category)} ${formatMoney(c.price)}`),
            h("small", { class: "muted" }, ` · ${c.available} free`),
          ),
        ),
    ),
    h(
      "ul",
      { class: "legend-list states" },
      [
        ["is-selected", "Selected"],
        ["is-mine", "Held for you"],
        ["is-held", "Held by someone"],
        ["is-booked", "Sold"],
        ["is-blocked", "Not for sale"],
      ].map(([cls, label]) =>
        h("li", {}, h("span", { class: `swatch seat cat-0 ${cls}`, "aria-hidden": "true" }), h("span", {}, label)),
      ),
    ),
  );
}

/**
 * A seat-map page's layout: the map column (the legend, the map in its scroller, the keyboard help and
 * any `moreHelp`) beside `side`.
 */
export function seatMapLayout({
  legend,
  map,
  side,
  scroller = h("div", { class: "seatmap-scroll" }, map.element),
  moreHelp,
}) {
  return h(
    "div",
    { class: "booking-layout" },
    h(
      "div",
      { class: "map-column" },
      legend,
      scroller,
      h("p", { id: "seatmap-help", class: "hint" }, SEATMAP_HELP, moreHelp),
    ),
    side,
  );
}

/** The ids of the chosen `seats`, or the words `none` while there are none. */
export function selectedList(seats, none) {
  return h("p", { class: "selected-list" }, seats.length ? seats.map((s) => s.id).join(", ") : none);
}

export const capitalise = (s) => s.charAt(0).toUpperCase() + s.slice(1);

export const SEATMAP_HELP =
  "Use the arrow keys to move between seats and Enter or Space to select one. Each seat says its row, number, category, price and whether it is free.";
