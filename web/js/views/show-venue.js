// Booking a show at a venue built of sections (an arena, a stadium of 100,000 places): the venue's
// overview first (venue.js: every section as a tile with its price range and free places, coloured by
// how full it is), then the section someone picks: a seated section's own seat map (the cinema's seat-map
// component: pick seats or the best N of the section, hold, pay), or a standing zone's quantity picker
// (N places, all or none). views/show.js sends a show here when GET /shows/{id}/venue lists sections.
//
// The whole venue is never loaded: the overview (GET …/venue, a few hundred bytes a section) is read
// every few seconds, and only the open section's seats are: GET …/sections/{code}/seats, then the live
// stream of that section (…/seats/stream?section=CODE), or, while the stream is down, that section's map
// every few seconds. Holding, the countdown and paying are the HoldDesk's (holding.js), as on a cinema's
// page; the open section is kept in the address (?section=112), so a reload comes back to it.

import { api, session } from "../api.js";
import { field, formatMoney, h, messageArea, mount, notice, plural } from "../dom.js";
import { HoldDesk, seatList, selectionPanel } from "../holding.js";
import { followSeatMap } from "../live.js";
import { capitalise, SeatMap, SEATMAP_HELP, seatLegend } from "../seatmap.js";
import { centreWhenOverflowing, liveStatus, roomNotice, salesState, showHead } from "../showpage.js";
import { availabilityLegend, formatCount, priceRange, VenueMap } from "../venue.js";

const MAX_PLACES = 10;
export const OVERVIEW_POLL_MS = 3000;
export const SECTION_POLL_MS = 3000;
const STANDING_ID = /^([A-Z0-9]{1,6})-[0-9]{1,6}$/;

export async function render(main, { show, movie, theater, venue, turn, queuePath, query }) {
  const id = show.id;
  const saleState = salesState(show);
  const area = messageArea();
  const say = area.say;
  const liveBadge = h("span", {});
  liveStatus(liveBadge, "polling");
  let sections = venue.sections;
  let open = null; // {code, kind, map, stream, poll, scroller}
  let overviewTimer = null;
  let closed = false;
  let suppressTaken = false;

  const desk = new HoldDesk({
    showId: id,
    say,
    queuePath,
    title: "Your tickets are held",
    describe: (ids) => describePlaces(ids, sections),
    mineChanged: (seats) => {
      if (open?.map) {
        open.map.setMine(seats);
        drawSelection();
      }
    },
    signedIn: () => open?.stream?.reopen(),
  });
  const overview = new VenueMap({
    label: `Sections of ${theater.name} for ${movie.title}`,
    onPick: (code) => openSection(code, true),
  });
  const totals = h("p", { class: "venue-totals", "aria-live": "off" });
  const sectionBox = h("section", { class: "panel venue-section", "aria-labelledby": "section-title", hidden: true });
  const selectionBox = h("section", { class: "panel selection", "aria-labelledby": "selection-title", hidden: true });
  const pickBox = h("section", { class: "panel best", "aria-labelledby": "best-title", hidden: true });
  const countSelect = h(
    "select",
    { name: "count" },
    Array.from({ length: MAX_PLACES }, (_, i) => h("option", { value: i + 1, selected: i === 1 }, String(i + 1))),
  );

  mount(
    main,
    showHead(movie, theater, show, liveBadge),
    saleState.open ? null : notice(saleState.message, "warning"),
    show.waiting_room ? roomNotice(turn, queuePath) : null,
    area.el,
    h(
      "section",
      { class: "panel venue-overview", "aria-labelledby": "venue-title" },
      h("h2", { id: "venue-title" }, "The venue"),
      totals,
      h(
        "p",
        { class: "hint" },
        "Pick a block to see its seats, or a standing zone to choose how many places you want.",
      ),
      availabilityLegend(),
      overview.element,
    ),
    h(
      "div",
      { class: "booking-layout venue-layout" },
      h("div", { class: "map-column" }, sectionBox),
      h("aside", { class: "side-column", "aria-label": "Your tickets" }, desk.box, selectionBox, pickBox),
    ),
  );

  drawOverview();
  if (session.signedIn()) await desk.load();
  desk.draw();
  desk.start();
  overviewTimer = setInterval(refreshOverview, OVERVIEW_POLL_MS);
  const wanted = query?.get("section");
  if (wanted && overview.section(wanted)) await openSection(wanted, false);

  // -- the overview -----------------------------------------------------------------------------------

  function drawOverview() {
    overview.setSections(sections);
    const free = sections.reduce((sum, s) => sum + s.available, 0);
    const capacity = sections.reduce((sum, s) => sum + s.capacity, 0);
    totals.textContent = `${formatCount(free)} of ${formatCount(capacity)} places free in ${plural(
      sections.length,
      "section",
    )}.`;
    drawFacts();
    if (open?.kind === "standing") drawStanding();
  }

  async function refreshOverview() {
    try {
      const latest = await api(`shows/${id}/venue`, { auth: false });
      if (closed) return;
      sections = latest.sections;
      drawOverview();
      if (!open?.stream) liveStatus(liveBadge, "polling");
    } catch (error) {
      if (!closed && !open?.stream) liveStatus(liveBadge, "reconnecting");
    }
  }

  // -- a section --------------------------------------------------------------------------------------

  async function openSection(code, moveFocus) {
    const section = overview.section(code);
    if (!section) return;
    closeSection(false);
    overview.select(code);
    const url = new URL(window.location.href);
    url.searchParams.set("section", code);
    history.replaceState(null, "", url.pathname + url.search);
    sectionBox.hidden = false;
    if (section.kind === "standing") {
      open = { code, kind: "standing" };
      drawSectionHead();
      drawStanding();
    } else {
      open = { code, kind: "seated" };
      try {
        await openSeated(open, section);
      } catch (error) {
        say(error.explain?.({ 404: "That section is not in this show's venue (any more)." }) ?? error.message, "error");
        return;
      }
    }
    if (moveFocus) {
      sectionBox.scrollIntoView({ block: "start", behavior: "smooth" });
      sectionBox.querySelector("h2")?.focus({ preventScroll: true });
    }
  }

  /** Close the open section; `forget` also takes it out of the address (not when leaving the page). */
  function closeSection(forget = true) {
    if (!open) return;
    open.stream?.close();
    clearInterval(open.poll);
    open.resize?.disconnect();
    open = null;
    overview.select(null);
    mount(sectionBox);
    sectionBox.hidden = true;
    selectionBox.hidden = true;
    pickBox.hidden = true;
    liveStatus(liveBadge, "polling");
    if (!forget) return;
    const url = new URL(window.location.href);
    url.searchParams.delete("section");
    history.replaceState(null, "", url.pathname + url.search);
  }

  async function openSeated(here, section) {
    const map = new SeatMap({
      label: `Seats in ${section.name}`,
      maxSelection: MAX_PLACES,
      front: "Stage this way",
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
    here.map = map;
    here.legend = h("div", {});
    here.scroller = h("div", { class: "seatmap-scroll" }, map.element);
    drawSectionHead();
    const data = await api(`shows/${id}/sections/${encodeURIComponent(here.code)}/seats`, { auth: false });
    if (open !== here) return;
    map.setSeats(data.seats);
    map.setMine(desk.seats());
    drawLegend();
    here.resize = new ResizeObserver(() => centreWhenOverflowing(here.scroller));
    here.resize.observe(here.scroller);
    selectionBox.hidden = false;
    pickBox.hidden = false;
    drawSelection();
    drawBest();
    here.stream = followSeatMap(
      id,
      map,
      drawLegend,
      {
        hold: (event) => desk.onHoldEvent(event),
        expired: (event) => desk.onExpired(event.hold_id, event.seats),
        status: (status) => {
          if (open !== here) return;
          liveStatus(liveBadge, status);
          // While the stream is down, read the section's map every few seconds instead.
          if (status === "live") {
            clearInterval(here.poll);
            here.poll = null;
          } else if (status === "reconnecting" && !here.poll) {
            here.poll = setInterval(() => pollSection(here), SECTION_POLL_MS);
          }
        },
      },
      { section: here.code },
    );
  }

  async function pollSection(here) {
    try {
      const data = await api(`shows/${id}/sections/${encodeURIComponent(here.code)}/seats`, { auth: false });
      if (open !== here) return;
      here.map.setSeats(data.seats);
      drawLegend();
    } catch {
      // the next round tries again; the badge already says the page is reconnecting
    }
  }

  function drawLegend() {
    if (!open?.map) return;
    mount(open.legend, seatLegend(open.map));
    drawFacts();
  }

  /** The open section's heading, its facts line and the way back; then its map or its picker. */
  function drawSectionHead() {
    const section = overview.section(open.code);
    const back = h(
      "button",
      {
        type: "button",
        class: "link-button",
        onclick: () => {
          const code = open.code;
          closeSection();
          overview.tiles.get(code)?.focus();
        },
      },
      "All sections",
    );
    open.facts = h("p", { class: "muted" });
    const head = h(
      "div",
      { class: "venue-section-head" },
      h("div", {}, h("h2", { id: "section-title", tabindex: "-1" }, section.name), open.facts),
      back,
    );
    if (open.kind === "standing") {
      open.picker = h("div", {});
      mount(sectionBox, head, open.picker);
    } else {
      mount(
        sectionBox,
        head,
        open.legend,
        open.scroller,
        h(
          "p",
          { id: "seatmap-help", class: "hint" },
          SEATMAP_HELP,
          h("span", { class: "scroll-hint" }, " Swipe sideways to see every seat."),
        ),
      );
    }
    drawFacts();
  }

  /** "Premium · ₹120 · 987 of 1,000 free": a seated section's count from its live map once it has one
   * (the overview may be 2 s behind it), a standing zone's from the overview. */
  function drawFacts() {
    const section = overview.section(open?.code);
    if (!section || !open.facts) return;
    let free = section.available;
    let capacity = section.capacity;
    if (open.map?.seats.size) {
      const seats = [...open.map.seats.values()];
      free = seats.filter((seat) => seat.status === "available").length;
      capacity = seats.length;
    }
    const kind = section.kind === "standing" ? "Standing, no seat numbers" : capitalise(section.category);
    open.facts.textContent = `${kind} · ${priceRange(section)} · ${formatCount(free)} of ${formatCount(capacity)} free`;
  }

  function drawSelection() {
    if (!open?.map) return;
    selectionPanel(selectionBox, open.map, {
      open: saleState.open,
      holding: desk.holds.size > 0,
      hold: (button, ids) => requestSeats(button, { seats: ids }, "Holding…"),
    });
  }

  function drawBest() {
    const section = overview.section(open.code);
    const find = h("button", { type: "submit", class: "secondary", disabled: !saleState.open }, "Find best seats");
    mount(
      pickBox,
      h("h2", { id: "best-title" }, `Best in ${section.name}`),
      h(
        "form",
        {
          class: "inline-form",
          onsubmit: (e) => {
            e.preventDefault();
            requestSeats(find, { count: Number(countSelect.value), section: open.code }, "Finding seats…");
          },
        },
        field("Seats", countSelect),
        find,
      ),
      h("p", { class: "hint" }, "We pick seats next to each other in this section, as central as possible."),
    );
  }

  function requestSeats(button, body, busyText) {
    const map = open.map;
    return desk
      .request(button, body, busyText, {
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
      })
      .then(refreshOverview);
  }

  // -- a standing zone --------------------------------------------------------------------------------

  function drawStanding() {
    const section = overview.section(open.code);
    if (!section || !open.picker) return;
    const most = Math.min(MAX_PLACES, section.available);
    const count = h(
      "select",
      { name: "places" },
      Array.from({ length: Math.max(most, 1) }, (_, i) =>
        h("option", { value: i + 1, selected: i + 1 === Math.min(2, most) }, String(i + 1)),
      ),
    );
    const holdButton = h("button", { type: "submit", class: "primary", disabled: !saleState.open || most < 1 });
    const label = () => {
      const n = Number(count.value);
      holdButton.textContent = `Hold ${plural(n, "place")} · ${formatMoney(n * section.price_min)}`;
    };
    count.addEventListener("change", label);
    label();
    const previous = open.picker.querySelector("select");
    if (previous && document.activeElement === previous) return; // someone is choosing: redraw later
    mount(
      open.picker,
      most < 1
        ? notice("This zone is full. Places come back when holds lapse: have a look again in a few minutes.", "warning")
        : h(
            "form",
            {
              class: "inline-form standing-form",
              "aria-label": `Places in ${section.name}`,
              onsubmit: (e) => {
                e.preventDefault();
                desk
                  .request(holdButton, { count: Number(count.value), section: open.code }, "Holding…")
                  .then(refreshOverview);
              },
            },
            field("Places", count),
            holdButton,
          ),
      h(
        "p",
        { class: "hint" },
        "General admission: entry to the zone, not a numbered seat. Places are held all together or not at all.",
      ),
    );
    if (previous) {
      const value = previous.value;
      if ([...count.options].some((o) => o.value === value)) {
        count.value = value;
        count.dispatchEvent(new Event("change"));
      }
    }
  }

  return () => {
    closed = true;
    clearInterval(overviewTimer);
    desk.stop();
    closeSection(false);
  };
}

/** Places in a sentence: "Seats 112-K-14 and 112-K-15", "2 places in Floor A", or both. */
export function describePlaces(ids, sections) {
  const seats = [];
  const zones = new Map();
  for (const id of ids) {
    const match = STANDING_ID.exec(id);
    if (match) zones.set(match[1], (zones.get(match[1]) || 0) + 1);
    else seats.push(id);
  }
  const parts = seats.length ? [seatList(seats)] : [];
  for (const [code, n] of zones) {
    const name = sections.find((s) => s.code === code)?.name || code;
    parts.push(`${plural(n, "place")} in ${name}`);
  }
  const text = parts.join(" and ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

