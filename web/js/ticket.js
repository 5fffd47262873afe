// A ticket: movie, theater, time, seats and price, with a QR code the door scans. The QR code carries
// "SEATWISE:<booking id>:<show id>:<seats>" (the booking id is what a scanner looks up; the rest lets a
// person read it offline) and is drawn as inline SVG with the vendored qrcode-generator.

import qrcode from "../vendor/qrcode-generator/qrcode.mjs";
import { formatDateTime, formatMoney, h } from "./dom.js";

export function ticketPayload(booking) {
  return `SEATWISE:${booking.id}:${booking.show_id}:${booking.seats.join(",")}`;
}

/** The QR code of `text` as an <svg> of dark modules on a white square, `size` px wide. */
export function qrSvg(text, size = 168, label = "Ticket QR code") {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  const margin = 4;
  const total = count + margin * 2;
  let path = "";
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (qr.isDark(row, col)) path += `M${col + margin} ${row + margin}h1v1h-1z`;
    }
  }
  return h(
    "svg:svg",
    {
      class: "qr",
      viewBox: `0 0 ${total} ${total}`,
      width: size,
      height: size,
      role: "img",
      "aria-label": label,
      "data-payload": text,
      "shape-rendering": "crispEdges",
    },
    h("svg:rect", { width: total, height: total, fill: "#fff" }),
    h("svg:path", { d: path, fill: "#111" }),
  );
}

/**
 * The ticket card. details: {booking, show, movie, theater, customerName?}. booking has id, seats,
 * amount, status, price_breakdown? (from GET /bookings/{id}) or amount only (from a sale).
 */
export function ticketCard({ booking, show, movie, theater, customerName }) {
  const cancelled = booking.status === "cancelled";
  const rows = [
    ["When", formatDateTime(show.starts_at)],
    ["Where", `${theater.name}, ${theater.city}`],
    ["Seats", booking.seats.join(", ")],
    customerName ? ["Name", customerName] : null,
    ["Paid", formatMoney(booking.amount)],
    ["Booking", booking.id],
  ].filter(Boolean);
  return h(
    "article",
    { class: `ticket${cancelled ? " is-cancelled" : ""}`, "aria-label": `Ticket for ${movie.title}` },
    h(
      "div",
      { class: "ticket-main" },
      h("p", { class: "ticket-kicker" }, cancelled ? "Cancelled ticket" : "Admit " + booking.seats.length),
      h("h2", { class: "ticket-title" }, movie.title),
      h(
        "dl",
        { class: "ticket-facts" },
        rows.map(([k, v]) => [h("dt", {}, k), h("dd", { class: k === "Booking" ? "mono" : null }, v)]),
      ),
    ),
    h(
      "div",
      { class: "ticket-stub" },
      cancelled
        ? h("p", { class: "ticket-void" }, "Not valid")
        : qrSvg(ticketPayload(booking), 168, `QR code for booking ${booking.id}`),
      h("p", { class: "ticket-seats" }, booking.seats.join(" · ")),
    ),
  );
}
