// Booking a show. A cinema's show: the live seat map, choosing seats (or the best N of a category),
// holding them with a countdown, paying with a card, and on to the ticket. A venue's show (a screen built
// of sections: an arena, a stadium) gets the venue page instead (views/show-venue.js): its sections, then
// one section's seat map or a standing zone's quantity picker. GET /shows/{id}/venue tells them apart
// (`sections: []` for a cinema), so a cinema's page is what it always was.
//
// The seat map starts from GET /shows/{id}/seats and then follows the live stream; holding, the countdown
// and paying are the HoldDesk's (holding.js), shared with the venue page.
//
// A show sold through a waiting room (`waiting_room: true`) sells only to accounts the room has admitted:
// a signed-in account that is neither admitted nor holding seats of it is sent to the queue page
// (views/queue.js), and a hold refused as `not-admitted` says so and links there.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import { field, formatDateTime, formatMoney, h, messageArea, mount, notice } from "../dom.js";
import { HoldDesk, seatList, selectionPanel } from "../holding.js";
import { followSeatMap } from "../live.js";
import { navigate } from "../router.js";
import { capitalise, SeatMap, seatLegend, seatMapLayout } from "../seatmap.js";
import { centreWhenOverflowing, liveStatus, roomAccess, roomNotice, salesState, showHead } from "../showpage.js";


const MAX_SEATS = 10;

export async function render(main, { id }, query) {
  const { show, movie, theater } = await catalog.showDetails(id);
  const queuePath = `/app/shows/${id}/queue`;
  const turn = show.waiting_room && session.signedIn() ? await roomAccess(id) : null;
  if (turn && !turn.admitted && !turn.holding) {
    navigate(queuePath, { replace: true });
    return;
  }
  const venue = await venueOf(id);
  if (venue) {
    const page = await import("./show-venue.js");
    return page.render(main, { show, movie, theater, venue, turn, queuePath, query });
  }
  return cinemaPage(main, { show, movie, theater, turn, queuePath });
}

/** The show's venue overview when its screen is built of sections, else null (a cinema's screen). */
async function venueOf(id) {
  try {
    const venue = await api(`shows/${id}/venue`, { auth: false });
    return venue.sections.length ? venue : null;
  } catch (error) {
    if (error.status === 404) return null; // a service without venues
    throw error;
  }
}

function cinemaPage(main, { show, movie, theater, turn, queuePath }) {
  const id = show.id;
  let stream = null;
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
  const desk = new HoldDesk({
    showId: id,
    say,
    queuePath,
    mineChanged: (seats) => {
      map.setMine(seats);
      drawSelection();
    },
    signedIn: () => stream?.reopen(), // now with the token: the stream also follows this person's holds
  });
  const legendBox = h("div", {});
  const selectionBox = h("section", { class: "panel selection", "aria-labelledby": "selection-title" });
  const bestBox = h("section", { class: "panel best", "aria-labelledby": "best-title" });

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
    showHead(movie, theater, show, liveBadge),
    saleState.open ? null : notice(saleState.message, "warning"),
    show.waiting_room ? roomNotice(turn, queuePath) : null,
    messages,
    seatMapLayout({
      legend: legendBox,
      map,
      scroller,
      side: h("aside", { class: "side-column", "aria-label": "Your seats" }, desk.box, selectionBox, bestBox),
      moreHelp: h("span", { class: "scroll-hint" }, " Swipe sideways to see every seat."),
    }),
  );
  const resizeObserver = new ResizeObserver(() => centreWhenOverflowing(scroller));

  async function start() {
    const initial = await api(`shows/${id}/seats`, { auth: false });
    map.setSeats(initial.seats);
    resizeObserver.observe(scroller);
    drawLegend();
    if (session.signedIn()) await desk.load();
    drawSelection();
    drawBest();
    desk.draw();

    stream = followSeatMap(id, map, drawLegend, {
      hold: (data) => desk.onHoldEvent(data),
      expired: (data) => desk.onExpired(data.hold_id, data.seats),
      status: (status) => liveStatus(liveBadge, status),
    });
    desk.start();
  }

  function requestHold(button, body, busyText) {
    return desk.request(button, body, busyText, {
      // The stream may announce these seats held before the answer arrives: they are ours, not taken.
      before: () => body.seats && map.setMine([...map.mine, ...body.seats]),
      held: () => {
        suppressTaken = true;
        map.clearSelection();
        suppressTaken = false;
      },
      failed: (error) => {
        suppressTaken = true;
        if (error.code === "seats-unavailable") map.markTaken(error.seats);
        map.setMine(desk.seats());
        suppressTaken = false;
      },
    });
  }

  // -- drawing ----------------------------------------------------------------------------------------

  function drawLegend() {
    mount(legendBox, seatLegend(map));
  }

  function drawSelection() {
    selectionPanel(selectionBox, map, {
      open: saleState.open,
      holding: desk.holds.size > 0,
      hold: (button, ids) => requestHold(button, { seats: ids }, "Holding…"),
    });
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

  return start().then(() => () => {
    desk.stop();
    resizeObserver.disconnect();
    stream?.close();
  });
}
