// The box-office desk: pick today's show at this theater, click seats on the live map, take the
// customer's name and card, sell in one step (POST /box-office/shows/{id}/sales), then show or print
// the ticket and go straight on to the next customer.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import {
  busy,
  field,
  formatMoney,
  formatTime,
  h,
  localDay,
  messageArea,
  mount,
  newKey,
  notice,
  panel,
  plural,
} from "../dom.js";
import { seatList } from "../holding.js";
import { liveSeatMap } from "../live.js";
import { navigate } from "../router.js";
import { SeatMap, seatLegend, seatMapLayout, selectedList } from "../seatmap.js";
import { ticketCard } from "../ticket.js";

const THEATER_KEY = "seatwise.desk.theater";

export async function render(main, _params, query) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent("/app/box-office")}`, { replace: true });
    return;
  }
  if (session.role !== "box_office" && session.role !== "admin") {
    mount(
      main,
      h("h1", {}, "Box office"),
      notice("This page is for box-office staff. Your account is not a box-office account.", "error"),
    );
    return;
  }
  const theaters = await catalog.theaters();
  let theaterId = query.get("theater") || localStorage.getItem(THEATER_KEY) || theaters[0]?.id || "";
  if (!theaters.some((t) => t.id === theaterId)) theaterId = theaters[0]?.id || "";
  let day = query.get("day") || localDay(new Date().toISOString());
  let showId = query.get("show") || "";
  let cleanupShow = null;

  const theaterSelect = h(
    "select",
    { name: "theater" },
    theaters.map((t) => h("option", { value: t.id, selected: t.id === theaterId }, `${t.name} (${t.city})`)),
  );
  const dayInput = h("input", { type: "date", name: "day", value: day });
  const showList = h("div", { class: "times desk-shows", role: "list", "aria-label": "Shows" });
  const desk = h("div", { class: "desk" });
  mount(
    main,
    h("h1", {}, "Box office"),
    h("div", { class: "toolbar" }, field("Theater", theaterSelect), field("Day", dayInput)),
    showList,
    desk,
  );

  theaterSelect.addEventListener("change", () => {
    theaterId = theaterSelect.value;
    localStorage.setItem(THEATER_KEY, theaterId);
    showId = "";
    loadShows();
  });
  dayInput.addEventListener("change", () => {
    day = dayInput.value;
    showId = "";
    loadShows();
  });

  function remember() {
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({ theater: theaterId, day, ...(showId ? { show: showId } : {}) }).toString();
    history.replaceState(null, "", url.pathname + url.search);
  }

  // Changing the theater and then the day starts two loads; only the latest may draw, or a slow first
  // answer (the old day's shows) would replace the list the desk is looking at.
  let latestLoad = 0;

  async function loadShows() {
    const load = ++latestLoad;
    remember();
    cleanupShow?.();
    cleanupShow = null;
    mount(desk);
    if (!theaterId) {
      mount(showList, notice("There are no theaters yet.", "info"));
      return;
    }
    let shows;
    try {
      shows = (await catalog.showsOnSale({ theater_id: theaterId })).filter((s) => localDay(s.starts_at) === day);
    } catch (error) {
      if (load === latestLoad) mount(showList, notice(error.message, "error"));
      return;
    }
    if (load !== latestLoad) return;
    if (!shows.length) {
      mount(showList, notice("No shows on sale at this theater that day.", "info"));
      return;
    }
    const movies = new Map(
      await Promise.all([...new Set(shows.map((s) => s.movie_id))].map(async (m) => [m, await catalog.movie(m)])),
    );
    if (load !== latestLoad) return;
    mount(
      showList,
      shows.map((s) =>
        h(
          "button",
          {
            type: "button",
            role: "listitem",
            class: "showtime",
            "aria-pressed": s.id === showId ? "true" : "false",
            onclick: () => {
              showId = s.id;
              loadShows();
            },
          },
          h("strong", {}, formatTime(s.starts_at)),
          h("small", {}, movies.get(s.movie_id).title),
        ),
      ),
    );
    if (showId && shows.some((s) => s.id === showId)) {
      const cleanup = await openDesk(showId);
      if (load !== latestLoad) return cleanup?.(); // another show was chosen meanwhile
      cleanupShow = cleanup;
    }
  }

  async function openDesk(id) {
    const { show, movie, theater } = await catalog.showDetails(id);
    const area = messageArea();
    const messages = area.el;
    const say = area.say;
    const legend = h("div", {});
    const side = h("aside", { class: "side-column", "aria-label": "Sale" });
    const map = new SeatMap({
      label: `Seats for ${movie.title} at ${formatTime(show.starts_at)}`,
      maxSelection: 50,
      onChange: () => drawSale(),
      onTaken: (ids) =>
        say(`${seatList(ids)} ${ids.length === 1 ? "was" : "were"} just taken. Choose again.`, "warning"),
      onRefused: (text) => say(text, "info"),
    });
    const customer = h("input", {
      type: "text",
      name: "customer",
      autocomplete: "off",
      maxlength: 200,
      required: true,
    });
    const card = h("input", {
      type: "text",
      name: "card",
      inputmode: "numeric",
      autocomplete: "off",
      placeholder: "4242 4242 4242 4242",
    });
    let saleKey = null;
    let pending = new Set(); // seats of a sale in flight, or released by a refused one
    let pendingTimer = null;
    const settle = () => {
      const freed = [...pending].filter((sid) => map.seats.get(sid)?.status === "available");
      if (!freed.length) return;
      freed.forEach((sid) => pending.delete(sid));
      map.setMine([...pending]);
    };

    mount(
      desk,
      h("h2", {}, `${movie.title} · ${formatTime(show.starts_at)} · ${theater.name}`),
      messages,
      seatMapLayout({ legend, map, side }),
    );
    const stream = await liveSeatMap(id, map, () => (settle(), mount(legend, seatLegend(map))));
    drawSale();

    function drawSale() {
      const chosen = map.selectedSeats();
      const total = chosen.reduce((sum, s) => sum + s.price, 0);
      const sell = h(
        "button",
        { type: "submit", class: "primary", disabled: !chosen.length },
        chosen.length ? `Sell ${plural(chosen.length, "seat")} · ${formatMoney(total)}` : "Sell seats",
      );
      mount(
        side,
        panel(
          "sale-title",
          "Sale",
          selectedList(chosen, "Click seats on the map."),
          h(
            "form",
            {
              class: "stack",
              onsubmit: (e) => {
                e.preventDefault();
                sellSeats(sell, chosen);
              },
            },
            field("Customer name", customer),
            field("Card number", card, "Or press “Test card”."),
            h(
              "div",
              { class: "row-buttons" },
              sell,
              h(
                "button",
                { type: "button", class: "secondary", onclick: () => (card.value = "4242 4242 4242 4242") },
                "Test card",
              ),
            ),
          ),
        ),
      );
    }

    async function sellSeats(button, chosen) {
      const name = customer.value.trim();
      const number = card.value.replace(/\s+/g, "");
      if (!name) {
        say("Please enter the customer's name.", "error");
        customer.focus();
        return;
      }
      if (!/^[0-9]{12,19}$/.test(number)) {
        say("Please enter a card number (12 to 19 digits).", "error");
        card.focus();
        return;
      }
      saleKey = saleKey || newKey();
      // The sale's own hold shows on the stream: those seats are this desk's, not "taken".
      pending = new Set(chosen.map((s) => s.id));
      map.setMine([...pending]);
      try {
        const sale = await busy(button, "Selling…", () =>
          api(`box-office/shows/${id}/sales`, {
            method: "POST",
            json: { seats: chosen.map((s) => s.id), customer_name: name, payment_info: { card_number: number } },
            idempotencyKey: saleKey,
          }),
        );
        saleKey = null;
        showTicket(sale);
      } catch (error) {
        if (error.status !== 503 && error.status !== 0) saleKey = null;
        if (error.code === "seats-unavailable") {
          pending.clear();
          map.setMine([]);
          map.markTaken(error.seats);
        } else {
          // A refused payment released the seats: they stay selected until the stream shows them free.
          clearTimeout(pendingTimer);
          pendingTimer = setTimeout(() => {
            pending.clear();
            map.setMine([]);
          }, 5000);
        }
        say(
          error.explain({
            "payment-declined":
              "The card was declined and nothing was charged. The seats are free again: try another card.",
            403: "This account may not sell at the box office.",
          }),
          "error",
        );
      }
    }

    function showTicket(sale) {
      const booking = {
        id: sale.booking_id,
        show_id: id,
        seats: sale.selected_seat,
        amount: sale.amount,
        status: "confirmed",
      };
      map.clearSelection();
      pending.clear();
      map.setMine([]);
      customer.value = "";
      card.value = "";
      say(
        `Sold ${seatList(sale.selected_seat).replace(/^S/, "s")} to ${sale.customer_name} for ${formatMoney(sale.amount)}.`,
        "success",
      );
      const next = h(
        "button",
        { type: "button", class: "primary", onclick: () => (drawSale(), customer.focus()) },
        "Next customer",
      );
      mount(
        side,
        panel(
          "sold-title",
          "Ticket",
          ticketCard({ booking, show, movie, theater, customerName: sale.customer_name }),
          h(
            "div",
            { class: "row-buttons no-print" },
            h("button", { type: "button", class: "secondary", onclick: () => window.print() }, "Print ticket"),
            next,
          ),
        ),
      );
      next.focus();
    }

    return () => {
      clearTimeout(pendingTimer);
      stream.close();
    };
  }

  await loadShows();
  return () => cleanupShow?.();
}
