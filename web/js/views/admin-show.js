// One show for admins: its live seat map to block and unblock seats, its figures, and cancelling it; for a
// show sold through a waiting room, also the room's figures (GET /admin/shows/{id}/queue), read every 5 s.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import {
  busy,
  formatDateTime,
  formatMoney,
  h,
  messageArea,
  mount,
  notice,
  panel,
  plural,
  spinner,
} from "../dom.js";
import { seatList } from "../holding.js";
import { liveSeatMap } from "../live.js";
import { navigate } from "../router.js";
import { SeatMap, seatLegend, seatMapLayout, selectedList } from "../seatmap.js";
import { salesState } from "../showpage.js";
import { cancelShow, report, statusWords } from "./admin-catalog.js";

const ROOM_REFRESH_MS = 5000;

/** Figures as a list of terms: [label, value] pairs. */
function facts(pairs) {
  return h(
    "dl",
    { class: "price-lines" },
    pairs.map(([label, value]) => [h("dt", {}, label), h("dd", {}, String(value))]),
  );
}

export async function render(main, { id }) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent(window.location.pathname)}`, { replace: true });
    return;
  }
  if (session.role !== "admin") {
    mount(main, h("h1", {}, "Admin"), notice("This page is for administrators.", "error"));
    return;
  }
  const { show, movie, theater } = await catalog.showDetails(id);
  const area = messageArea();
  const messages = area.el;
  const say = area.say;
  const legend = h("div", {});
  const side = h("aside", { class: "side-column", "aria-label": "Seat actions" });
  const figuresBox = h("section", { class: "panel", "aria-labelledby": "figures-title" });
  const roomBox = show.waiting_room
    ? h("section", { class: "panel", "aria-labelledby": "room-title" }, h("h2", { id: "room-title" }, "Waiting room"))
    : null;
  const map = new SeatMap({
    label: `Seats of ${movie.title}, ${formatDateTime(show.starts_at)}`,
    mode: "admin",
    maxSelection: 500,
    onChange: () => drawActions(),
    onTaken: (ids) => say(`${seatList(ids)} changed meanwhile and left your selection.`, "warning"),
    onRefused: (text) => say(text, "info"),
  });
  mount(
    main,
    h("p", {}, h("a", { href: "/app/admin/shows", "data-link": true }, "← All shows")),
    h("h1", {}, `${movie.title}`),
    h(
      "p",
      { class: "muted" },
      `${theater.name}, ${theater.city} · ${formatDateTime(show.starts_at)} · ${statusWords(show.status)}`,
    ),
    salesState(show).open ? null : notice(salesState(show).message, "warning"),
    messages,
    seatMapLayout({ legend, map, side: h("div", { class: "side-column" }, side, roomBox, figuresBox) }),
  );
  const stream = await liveSeatMap(id, map, () => mount(legend, seatLegend(map)));
  drawActions();
  let roomTimer = null;
  if (roomBox) {
    roomBox.append(spinner());
    roomTimer = setInterval(drawRoom, ROOM_REFRESH_MS);
    await drawRoom();
  }
  await drawFigures();

  function drawActions() {
    const chosen = map.selectedSeats();
    const toBlock = chosen.filter((s) => s.status === "available").map((s) => s.id);
    const toUnblock = chosen.filter((s) => s.status === "blocked").map((s) => s.id);
    const block = h(
      "button",
      { type: "button", class: "primary", disabled: !toBlock.length },
      toBlock.length ? `Block ${plural(toBlock.length, "seat")}` : "Block seats",
    );
    const unblock = h(
      "button",
      { type: "button", class: "secondary", disabled: !toUnblock.length },
      toUnblock.length ? `Unblock ${plural(toUnblock.length, "seat")}` : "Unblock seats",
    );
    block.addEventListener("click", () => change(block, "block", toBlock));
    unblock.addEventListener("click", () => change(unblock, "unblock", toUnblock));
    const cancel = h("button", { type: "button", class: "danger" }, "Cancel this show");
    cancel.addEventListener("click", async () => {
      const done = await cancelShow({ show_id: id, movie_title: movie.title, starts_at: show.starts_at }, cancel, say);
      if (done) {
        catalog.forget();
        await drawFigures();
      }
    });
    mount(
      side,
      panel(
        "block-title",
        "Block seats",
        h(
          "p",
          { class: "muted" },
          "Select free seats to take them off sale (a broken seat, a camera position), or blocked seats to put them back.",
        ),
        selectedList(chosen, "No seats selected."),
        h("div", { class: "row-buttons" }, block, unblock),
      ),
      show.status === "on_sale"
        ? h(
            "section",
            { class: "panel" },
            h("h2", {}, "Cancel the show"),
            h("p", { class: "muted" }, "Every booking is refunded in full."),
            cancel,
          )
        : null,
    );
  }

  async function change(button, action, ids) {
    try {
      const result = await busy(button, action === "block" ? "Blocking…" : "Unblocking…", () =>
        api(`admin/shows/${id}/seats/${action}`, { method: "POST", json: { seats: ids } }),
      );
      map.clearSelection();
      say(
        `${seatList(ids)} ${action === "block" ? "taken off sale" : "back on sale"}. ${plural(result.blocked.length, "seat")} blocked in all.`,
        "success",
      );
      await drawFigures();
    } catch (error) {
      say(
        error.explain({ "seats-unavailable": (p) => `${seatList(p.seats || [])} cannot be blocked: held or sold.` }),
        "error",
      );
    }
  }

  async function drawFigures() {
    try {
      const day = show.starts_at.slice(0, 10);
      const data = await report({ start: day, end: day, theater_id: show.theater_id });
      const f = data.shows.find((s) => s.show_id === id);
      if (!f) return;
      mount(
        figuresBox,
        h("h2", { id: "figures-title" }, "Figures"),
        facts([
          ["Sold", `${f.sold} of ${f.capacity} (${Math.round(f.occupancy * 100)}%)`],
          ["Held now", f.held],
          ["Blocked", f.blocked],
          ["Bookings", f.bookings],
          ["Revenue", formatMoney(f.revenue)],
          ["Refunded", formatMoney(f.refunded)],
        ]),
      );
    } catch (error) {
      mount(figuresBox, notice(error.message, "error"));
    }
  }

  async function drawRoom() {
    const title = h("h2", { id: "room-title" }, "Waiting room");
    try {
      const room = await api(`admin/shows/${id}/queue`);
      const stock = room.stock;
      mount(
        roomBox,
        title,
        facts([
          [room.opened_at ? "Sales opened" : "Sales open", formatDateTime(room.opened_at || room.opens_at)],
          ["Entries", room.entries],
          ["Admitted", room.admitted],
          ["Waiting", room.waiting],
          ["Admissions per minute", room.admissions_per_minute],
          ["Sold out", room.sold_out_at ? formatDateTime(room.sold_out_at) : "Not yet"],
          ...(room.closed_at ? [["Closed", formatDateTime(room.closed_at)]] : []),
        ]),
        h("h3", {}, "Stock at the last admission round"),
        "total" in stock
          ? facts([
              ["Seats", stock.total],
              ["Free", stock.free],
              ["Held", stock.held],
              ["Booked", stock.booked],
              ["Blocked", stock.blocked],
              ["Open passes", stock.open_passes ?? 0],
            ])
          : h("p", { class: "muted" }, "No admission round has run yet: they start when sales open."),
        h("p", { class: "hint" }, `Updated at ${new Date().toLocaleTimeString()}, every 5 seconds.`),
      );
    } catch (error) {
      mount(roomBox, title, notice(error.message, "error"));
    }
  }

  return () => {
    clearInterval(roomTimer);
    stream.close();
  };
}
