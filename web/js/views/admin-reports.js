// Sales, occupancy and revenue: per show and per day, as SVG charts with their numbers, from
// GET /admin/reports/sales (UTC days of show starts; sales by the day they were made).

import { api } from "../api.js";
import { columns, horizontalBars } from "../charts.js";
import { field, formatMoney, h, mount, notice, spinner } from "../dom.js";

const isoDay = (date) => date.toISOString().slice(0, 10);
const shortDay = (day) =>
  new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const shortTime = (iso) =>
  new Date(iso).toLocaleString(undefined, { weekday: "short", hour: "2-digit", minute: "2-digit" });
const percent = (share) => `${Math.round(share * 100)}%`;

export async function reportsPanel(panel, query) {
  const today = new Date();
  const start = h("input", {
    type: "date",
    name: "start",
    value: query.get("start") || isoDay(new Date(today.getTime() - 7 * 86_400_000)),
  });
  const end = h("input", {
    type: "date",
    name: "end",
    value: query.get("end") || isoDay(new Date(today.getTime() + 14 * 86_400_000)),
  });
  const theaters = await api("theaters", { query: { limit: 500 }, auth: false });
  const theater = h(
    "select",
    { name: "theater" },
    h("option", { value: "" }, "All theaters"),
    theaters.map((t) => h("option", { value: t.id, selected: t.id === query.get("theater") }, `${t.name} (${t.city})`)),
  );
  const body = h("div", {});
  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Sales & occupancy"),
    h(
      "form",
      { class: "toolbar", onsubmit: (e) => (e.preventDefault(), load()) },
      field("Shows from", start),
      field("to", end),
      field("Theater", theater),
      h("button", { type: "submit", class: "secondary" }, "Show"),
    ),
    body,
  );

  async function load() {
    mount(body, spinner("Adding up…"));
    const url = new URL(window.location.href);
    url.search = new URLSearchParams({
      start: start.value,
      end: end.value,
      ...(theater.value ? { theater: theater.value } : {}),
    }).toString();
    history.replaceState(null, "", url.pathname + url.search);
    let data;
    try {
      data = await api("admin/reports/sales", {
        query: { start: start.value, end: end.value, theater_id: theater.value },
      });
    } catch (error) {
      mount(body, notice(error.message, "error"));
      return;
    }
    const sold = data.shows.reduce((sum, s) => sum + s.sold, 0);
    const capacity = data.shows.reduce((sum, s) => sum + s.capacity, 0);
    const revenue = data.show_days.reduce((sum, d) => sum + d.revenue, 0);
    const refunded = data.show_days.reduce((sum, d) => sum + d.refunded, 0);
    const bookings = data.show_days.reduce((sum, d) => sum + d.bookings, 0);
    const label = (s) => `${shortTime(s.starts_at)} · ${s.movie_title}`;
    const where = (s) => `${label(s)} · ${s.theater_name} ${s.screen_name}`;
    const busiest = [...data.shows].sort((a, b) => b.occupancy - a.occupancy || b.revenue - a.revenue).slice(0, 15);
    mount(
      body,
      h(
        "div",
        { class: "stat-cards" },
        stat("Tickets sold", String(sold)),
        stat("Occupancy", capacity ? percent(sold / capacity) : "—"),
        stat("Revenue", formatMoney(revenue)),
        stat("Bookings", String(bookings)),
        stat("Refunded", formatMoney(refunded)),
      ),
      data.truncated ? notice("More shows than fit on one page: per-show charts list the first 1,000.", "info") : null,
      h(
        "div",
        { class: "chart-grid" },
        columns({
          title: "Revenue per sales day",
          items: data.sales_days.map((d) => ({
            label: shortDay(d.day),
            value: d.revenue,
            display: formatMoney(d.revenue),
          })),
          valueLabel: "Revenue",
          tone: "a",
          format: (v) => formatMoney(Math.round(v)),
        }),
        columns({
          title: "Occupancy per show day",
          items: data.show_days.map((d) => ({
            label: shortDay(d.day),
            value: d.occupancy,
            display: `${percent(d.occupancy)} (${d.sold}/${d.capacity})`,
          })),
          max: 1,
          valueLabel: "Occupancy",
          tone: "b",
          format: (v) => percent(v),
        }),
        horizontalBars({
          title: "Occupancy per show (busiest 15)",
          items: busiest.map((s) => ({
            label: label(s),
            detail: where(s),
            value: s.occupancy,
            display: `${percent(s.occupancy)} · ${s.sold}/${s.capacity}`,
          })),
          max: 1,
          valueLabel: "Occupancy",
          tone: "b",
        }),
        horizontalBars({
          title: "Revenue per show (top 15)",
          items: [...data.shows]
            .sort((a, b) => b.revenue - a.revenue)
            .slice(0, 15)
            .filter((s) => s.revenue > 0)
            .map((s) => ({ label: label(s), detail: where(s), value: s.revenue, display: formatMoney(s.revenue) })),
          valueLabel: "Revenue",
          tone: "a",
        }),
      ),
    );
  }

  await load();
}

function stat(label, value) {
  return h(
    "div",
    { class: "stat" },
    h("span", { class: "stat-label" }, label),
    h("strong", { class: "stat-value" }, value),
  );
}
