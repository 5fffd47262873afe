// My bookings: newest first, with the show, seats, price and status; each opens its ticket.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import { formatDateTime, formatMoney, h, mount, notice, spinner } from "../dom.js";
import { navigate } from "../router.js";

const PAGE = 20;

export async function render(main, _params, query) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent("/app/bookings")}`, { replace: true });
    return;
  }
  const offset = Math.max(0, Number(query.get("offset")) || 0);
  const list = h("section", {}, spinner("Loading your bookings…"));
  mount(main, h("h1", {}, "My bookings"), list);
  let page;
  try {
    page = await api("bookings", { query: { limit: PAGE, offset } });
  } catch (error) {
    mount(list, notice(error.message, "error"));
    return;
  }
  if (!page.items.length) {
    mount(
      list,
      notice("You have no bookings yet.", "info"),
      h("p", {}, h("a", { href: "/app/", "data-link": true }, "Find a movie")),
    );
    return;
  }
  const rows = await Promise.all(
    page.items.map(async (b) => {
      try {
        return { booking: b, ...(await catalog.showDetails(b.show_id)) };
      } catch {
        return { booking: b, show: null, movie: null, theater: null };
      }
    }),
  );
  mount(
    list,
    h(
      "ul",
      { class: "booking-list" },
      rows.map(({ booking, show, movie, theater }) =>
        h(
          "li",
          { class: `booking-card is-${booking.status}` },
          h(
            "a",
            { href: `/app/bookings/${booking.id}`, "data-link": true, class: "booking-link" },
            h("strong", {}, movie ? movie.title : "Show"),
            h("span", {}, show ? `${formatDateTime(show.starts_at)} · ${theater.name}` : ""),
            h("span", {}, `Seats ${booking.seats.join(", ")} · ${formatMoney(booking.amount)}`),
          ),
          h(
            "span",
            { class: `status-pill is-${booking.status}` },
            booking.status === "confirmed" ? "Confirmed" : "Cancelled",
          ),
        ),
      ),
    ),
    h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      offset > 0
        ? h("a", { href: `/app/bookings?offset=${Math.max(0, offset - PAGE)}`, "data-link": true }, "Newer")
        : null,
      offset + PAGE < page.total
        ? h("a", { href: `/app/bookings?offset=${offset + PAGE}`, "data-link": true }, "Older")
        : null,
    ),
  );
}
