// A ticket: movie, theater, time, seats and price, with the QR code the door scans (docs/tickets.md,
// docs/gate.md). The codes come from GET /bookings/{id}/ticket:
// - on a phone ("rotating"), the QR code carries `<signed token>~<6 digits>`, the digits a TOTP of the
//   booking's secret (SHA-1, 15 s steps) made here by the vendored otpauth, so it keeps changing without
//   the network and a screenshot stops working within half a minute; a ring counts down to the next code;
// - printed ("static"), it carries the static signed token, and says so: "printed ticket — static code".
// The card shows the rotating code on screen and the static one in its print view (and when printed).
// QR codes are inline SVG drawn with the vendored qrcode-generator.

import { Secret, TOTP } from "../vendor/otpauth/otpauth.esm.js";
import qrcode from "../vendor/qrcode-generator/qrcode.mjs";
import { api } from "./api.js";
import { formatDateTime, formatMoney, h, mount } from "./dom.js";

const RING_RADIUS = 16;
const RING_LENGTH = 2 * Math.PI * RING_RADIUS;

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

/** The phone's code generator of a ticket: `code(ms)` is `<token>~<digits>` at that moment. */
export function rotatingCode(rotating) {
  const totp = new TOTP({
    secret: Secret.fromBase32(rotating.secret),
    algorithm: "SHA1",
    digits: rotating.digits,
    period: rotating.period,
  });
  return {
    period: rotating.period,
    step: (ms) => Math.floor(ms / 1000 / rotating.period),
    secondsLeft: (ms) => rotating.period - ((ms / 1000) % rotating.period),
    code: (ms) => `${rotating.token}~${totp.generate({ timestamp: ms })}`,
  };
}

/** The rotating QR code with its countdown ring; it redraws itself each step while it is in the page. */
function rotatingBlock(booking, ticket) {
  const codes = rotatingCode(ticket.rotating);
  const qrBox = h("div", { class: "code-qr" });
  const arc = h("svg:circle", {
    class: "ring-arc",
    cx: 20,
    cy: 20,
    r: RING_RADIUS,
    "stroke-dasharray": RING_LENGTH.toFixed(2),
  });
  const seconds = h("span", { class: "ring-seconds" }, "");
  const ring = h(
    "div",
    { class: "code-ring", "aria-hidden": "true" },
    h(
      "svg:svg",
      { viewBox: "0 0 40 40", width: 40, height: 40 },
      h("svg:circle", { class: "ring-track", cx: 20, cy: 20, r: RING_RADIUS }),
      arc,
    ),
    seconds,
  );
  const block = h(
    "div",
    { class: "code-block code-rotating", "data-kind": "rotating" },
    qrBox,
    h(
      "div",
      { class: "code-caption" },
      ring,
      h(
        "p",
        { class: "code-note" },
        "Live code: it changes every ",
        String(codes.period),
        " seconds. A screenshot will not get you in.",
      ),
    ),
  );
  let shownStep = null;
  let timer = null;
  let wasConnected = false;
  const tick = () => {
    if (block.isConnected) wasConnected = true;
    else if (wasConnected) {
      clearInterval(timer); // the card left the page
      return;
    }
    const now = Date.now();
    const step = codes.step(now);
    if (step !== shownStep) {
      shownStep = step;
      mount(
        qrBox,
        qrSvg(codes.code(now), 216, `QR code for booking ${booking.id}, changes every ${codes.period} seconds`),
      );
    }
    const left = codes.secondsLeft(now);
    arc.setAttribute("stroke-dashoffset", (RING_LENGTH * (1 - left / codes.period)).toFixed(2));
    seconds.textContent = String(Math.ceil(left));
    block.dataset.secondsLeft = left.toFixed(1);
  };
  tick();
  timer = setInterval(tick, 250);
  return block;
}

/** The printed ticket's static code, marked as such. */
function staticBlock(booking, ticket) {
  return h(
    "div",
    { class: "code-block code-static", "data-kind": "static" },
    h("p", { class: "code-static-mark" }, "Printed ticket — static code"),
    qrSvg(ticket.code, 168, `QR code for booking ${booking.id}, printed ticket (static code)`),
  );
}

/** Fill `stub` with the ticket's code blocks; `mode` "rotating" (a phone) or "static" (a printout). */
async function drawCodes(stub, booking, mode, ticket) {
  try {
    const t = ticket || (await api(`bookings/${booking.id}/ticket`));
    mount(stub, mode === "rotating" ? rotatingBlock(booking, t) : null, staticBlock(booking, t));
  } catch (error) {
    mount(
      stub,
      h("p", { class: "code-error", role: "alert" }, `The ticket's code could not be loaded. ${error.message || ""}`),
    );
  }
}

/**
 * The ticket card. details: {booking, show, movie, theater, customerName?, ticket?, mode?}. booking has
 * id, seats, amount, status, price_breakdown? (from GET /bookings/{id}) or amount only (from a sale).
 * ticket is GET /bookings/{id}/ticket's answer (fetched here when not given); mode is "rotating" for the
 * customer's phone (the static code is its print view) or "static" (default: the box office's printout).
 */
export function ticketCard({ booking, show, movie, theater, customerName, ticket, mode = "static" }) {
  const cancelled = booking.status === "cancelled";
  const rows = [
    ["When", formatDateTime(show.starts_at)],
    ["Where", `${theater.name}, ${theater.city}`],
    ["Seats", booking.seats.join(", ")],
    customerName ? ["Name", customerName] : null,
    ["Paid", formatMoney(booking.amount)],
    ["Booking", booking.id],
  ].filter(Boolean);
  const codes = h(
    "div",
    { class: "ticket-codes" },
    cancelled ? null : h("p", { class: "loading" }, "Loading the code…"),
  );
  if (!cancelled) drawCodes(codes, booking, mode, ticket);
  return h(
    "article",
    {
      class: `ticket${cancelled ? " is-cancelled" : ""}${mode === "static" ? " show-static" : ""}`,
      "aria-label": `Ticket for ${movie.title}`,
    },
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
      cancelled ? h("p", { class: "ticket-void" }, "Not valid") : codes,
      h("p", { class: "ticket-seats" }, booking.seats.join(" · ")),
    ),
  );
}

/** Switch a rotating card between the phone's live code and the printed ticket's static code. */
export function showStatic(card, on) {
  card.classList.toggle("show-static", on);
}
