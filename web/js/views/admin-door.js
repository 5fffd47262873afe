// The admins' view of a show's door (/app/admin/shows/<id>/door), read from GET /admin/shows/{id}/door
// every 5 s: how much of the audience is in, entries per gate per minute (one small chart per gate, last
// 30 minutes), and the conflicts offline gates reported (a ticket admitted offline after it had gone in
// elsewhere). Also the admin tab "Door" (doorPanel): a day's shows, each a way to its door view.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import { columns } from "../charts.js";
import { field, formatTime, h, localDay, mount, notice, panel, plural } from "../dom.js";
import { navigate } from "../router.js";

const POLL_MS = 5000;
const MINUTES = 30;

const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const percent = (share) => `${(share * 100).toFixed(1)}%`;

/** Entries per minute of one gate over the last MINUTES minutes (up to the latest minute seen). */
function gateSeries(perMinute, gate, end) {
  const counts = new Map(
    perMinute.filter((m) => m.gate === gate).map((m) => [new Date(m.minute).getTime(), m.entries]),
  );
  const items = [];
  for (let i = MINUTES - 1; i >= 0; i -= 1) {
    const at = end - i * 60_000;
    const value = counts.get(at) || 0;
    items.push({ label: formatTime(new Date(at).toISOString()), value, display: String(value) });
  }
  return items;
}

function shareBar(report) {
  return h(
    "div",
    { class: "door-share" },
    h(
      "p",
      { class: "door-share-figure" },
      h("strong", { "data-figure": "share-in" }, percent(report.share_in)),
      ` of the audience is in: ${report.seats_inside} of ${plural(report.seats_sold, "place")} sold, `,
      `${report.inside} of ${plural(report.tickets, "ticket")}.`,
    ),
    h(
      "div",
      {
        class: "door-share-bar",
        role: "meter",
        "aria-label": "Share of the audience in",
        "aria-valuemin": 0,
        "aria-valuemax": 100,
        "aria-valuenow": (report.share_in * 100).toFixed(1),
      },
      h("span", { class: "door-share-fill", "data-share": report.share_in }),
    ),
  );
}

function perGateCharts(report) {
  const gates = [...new Set(report.per_minute.map((m) => m.gate))].sort((a, b) => a.localeCompare(b));
  if (!gates.length) return notice("No entries yet.", "info", { live: false });
  const latest = Math.max(
    Date.now() - (Date.now() % 60_000),
    ...report.per_minute.map((m) => new Date(m.minute).getTime()),
  );
  const top = Math.max(1, ...report.per_minute.map((m) => m.entries));
  return h(
    "div",
    { class: "chart-grid door-gates" },
    gates.map((gate) => {
      const total = report.per_minute.filter((m) => m.gate === gate).reduce((sum, m) => sum + m.entries, 0);
      return columns({
        title: `${gate}: ${plural(total, "entry", "entries")}`,
        items: gateSeries(report.per_minute, gate, latest),
        max: top,
        valueLabel: "Entries",
      });
    }),
  );
}

function conflictsTable(report) {
  if (!report.conflicts.length) return h("p", { class: "muted" }, "No conflicts: no ticket was admitted twice.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data-table door-conflicts" },
      h("caption", {}, "Tickets an offline gate admitted after they had gone in elsewhere, newest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Booking", "Offline gate", "Scanned", "First in at", "First in", "Reported"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        report.conflicts.map((c) =>
          h(
            "tr",
            {},
            h("td", { class: "mono" }, c.booking_id),
            h("td", {}, c.gate),
            h("td", {}, clock(c.scanned_at)),
            h("td", {}, c.first_gate),
            h("td", {}, clock(c.first_at)),
            h("td", {}, clock(c.detected_at)),
          ),
        ),
      ),
    ),
  );
}

export async function render(main, { id }) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent(window.location.pathname)}`, { replace: true });
    return;
  }
  if (session.role !== "admin") {
    mount(main, h("h1", {}, "Door"), notice("This page is for administrators.", "error"));
    return;
  }
  const { show, movie, theater } = await catalog.showDetails(id);
  const updated = h("p", { class: "hint door-updated", role: "status" });
  const body = h("div", { class: "door" });
  mount(
    main,
    h("h1", {}, `Door: ${movie.title}`),
    h(
      "p",
      {},
      `${formatTime(show.starts_at)} · ${theater.name} · `,
      h("a", { href: `/app/admin/shows/${id}`, "data-link": true }, "Seat map"),
      " · ",
      h("a", { href: "/app/admin/door", "data-link": true }, "Other shows"),
    ),
    updated,
    body,
  );
  let stopped = false;
  let timer = null;
  let first = true;

  async function poll() {
    try {
      const report = await api(`admin/shows/${id}/door`);
      if (stopped) return;
      mount(
        body,
        panel("door-in-title", "In", shareBar(report)),
        panel("door-gates-title", "Entries per gate per minute", perGateCharts(report)),
        panel("door-conflicts-title", `Conflicts (${report.conflicts.length})`, conflictsTable(report)),
      );
      for (const fill of body.querySelectorAll(".door-share-fill")) {
        fill.style.width = `${Math.min(100, Number(fill.dataset.share) * 100)}%`; // CSSOM: allowed by the CSP
      }
      updated.textContent = `Updated ${clock(new Date().toISOString())}; every ${POLL_MS / 1000} s.`;
    } catch (error) {
      if (stopped) return;
      if (first) mount(body, notice(error.message, "error"));
      updated.textContent = `Not updated: ${error.message}`;
    }
    first = false;
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  await poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The admin tab "Door": a theater's shows of a day, each linking to its door view. */
export async function doorPanel(container, query) {
  const theaters = await catalog.theaters();
  let theaterId = query.get("theater") || theaters[0]?.id || "";
  let day = query.get("day") || localDay(new Date().toISOString());
  const theaterSelect = h(
    "select",
    { name: "theater" },
    theaters.map((t) => h("option", { value: t.id, selected: t.id === theaterId }, `${t.name} (${t.city})`)),
  );
  const dayInput = h("input", { type: "date", name: "day", value: day });
  const list = h("div", {});
  mount(
    container,
    h("h2", { id: "admin-tab-title" }, "Door"),
    h("p", { class: "hint" }, "Entries per gate, the share of the audience in, and offline conflicts, live."),
    h("div", { class: "toolbar" }, field("Theater", theaterSelect), field("Day", dayInput)),
    list,
  );
  theaterSelect.addEventListener("change", () => ((theaterId = theaterSelect.value), draw()));
  dayInput.addEventListener("change", () => ((day = dayInput.value), draw()));

  // Each draw is numbered: an answer for a theater or day chosen before is dropped, never shown over the
  // list of the one chosen since (the first draw's answer can arrive after a change's).
  let drawn = 0;
  async function draw() {
    const mine = ++drawn;
    const all = theaterId ? await api("shows", { query: { theater_id: theaterId, limit: 1000 }, auth: false }) : [];
    const shows = all.filter((s) => localDay(s.starts_at) === day);
    if (mine !== drawn) return;
    if (!shows.length) {
      mount(list, notice("No shows at this theater that day.", "info", { live: false }));
      return;
    }
    const movies = new Map(
      await Promise.all([...new Set(shows.map((s) => s.movie_id))].map(async (m) => [m, await catalog.movie(m)])),
    );
    if (mine !== drawn) return;
    mount(
      list,
      h(
        "ul",
        { class: "door-shows" },
        shows.map((s) =>
          h(
            "li",
            {},
            h(
              "a",
              { href: `/app/admin/shows/${s.id}/door`, "data-link": true },
              `${formatTime(s.starts_at)} ${movies.get(s.movie_id).title}`,
            ),
            s.status === "cancelled" ? " (cancelled)" : "",
          ),
        ),
      ),
    );
  }
  await draw();
}
