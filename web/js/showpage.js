// What both booking pages (a cinema's, views/show.js, and a venue's, views/show-venue.js) show around
// their maps: the title block with the live badge, whether sales are open, a waiting room's notice, and
// a wide seat map scrolled to its middle.

import { api } from "./api.js";
import { formatDateTime, formatTime, h, notice } from "./dom.js";

/** The page's title block: the movie (or event), where and when, and the live badge. */
export function showHead(movie, theater, show, liveBadge) {
  return h(
    "div",
    { class: "show-head" },
    h(
      "div",
      {},
      h("h1", {}, movie.title),
      h("p", { class: "muted" }, `${theater.name}, ${theater.city} · ${formatDateTime(show.starts_at)}`),
    ),
    liveBadge,
  );
}

const STATUS_WORDS = { live: "Live", reconnecting: "Reconnecting…", connecting: "Connecting…", polling: "Updating" };
const STATUS_HINTS = {
  live: "Seats update as other people hold and book them",
  reconnecting: "Trying to reconnect to live updates",
  polling: "Read again every few seconds",
};

/** Say the stream's state in the badge next to the title ("polling": a venue's overview, read every few seconds). */
export function liveStatus(badge, status) {
  badge.className = `live-badge is-${status}`;
  badge.textContent = STATUS_WORDS[status] || "Offline";
  badge.title = STATUS_HINTS[status] || "";
}

/** A seat map wider than its scroller starts in the middle, where the best seats are. */
export function centreWhenOverflowing(scroller) {
  const overflowing = scroller.scrollWidth > scroller.clientWidth + 2;
  scroller.classList.toggle("is-overflowing", overflowing);
  if (overflowing) scroller.scrollLeft = (scroller.scrollWidth - scroller.clientWidth) / 2;
}

/**
 * For a show sold through a waiting room: whether the signed-in account's turn is now (`admitted`, with
 * `entry`), or it holds seats of the show already (to pay for them after its turn ended).
 */
export async function roomAccess(id) {
  const [entry, holds] = await Promise.all([
    api(`shows/${id}/queue`).catch(() => null), // 404: never joined
    api(`shows/${id}/holds`).catch(() => []),
  ]);
  return { entry, admitted: entry?.state === "admitted", holding: holds.length > 0 };
}

/** What the booking page of a show with a waiting room says about it, given roomAccess() (null: signed out). */
export function roomNotice(turn, queuePath) {
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
