// Admin catalog panels: movies, theaters with their screens (and the seat-layout editor), and shows
// (create with prices per category, optionally sold through a waiting room; list with sales; cancel).
// Screens and per-show figures come from GET /admin/reports/sales, the one admin read route that lists
// screens and their layout.

import { api } from "../api.js";
import * as catalog from "../catalog.js";
import {
  busy,
  confirmDialog,
  field,
  formatDateTime,
  formatMoney,
  h,
  messageArea,
  mount,
  notice,
  onSubmit,
  plural,
} from "../dom.js";
import { capitalise } from "../seatmap.js";
import { sectionEditor } from "./admin-venue.js";

const CATEGORY_PATTERN = /^[a-z][a-z0-9_-]{0,29}$/;
const KNOWN_CATEGORIES = ["standard", "premium", "recliner", "vip", "balcony"];
const DEFAULT_PRICES = { standard: 200, premium: 320, recliner: 550, vip: 750, balcony: 250 };

function formMessage() {
  const area = messageArea("form-message");
  return {
    ...area,
    ok: (text, ...extra) => area.say([text, ...extra], "success"),
    fail: (error) => area.say(error.message || String(error), "error"),
  };
}

/** Create something: POST `json` to the admin API's `path` while `submit` says `busyText`; the answer. */
export function create(submit, busyText, path, json) {
  return busy(submit, busyText, () => api(path, { method: "POST", json }));
}

export function report(query = {}) {
  return api("admin/reports/sales", { query });
}

// -- movies -------------------------------------------------------------------------------------------

export async function moviesPanel(panel) {
  const list = h("div", {});
  const title = h("input", { type: "text", name: "title", required: true, maxlength: 200 });
  const duration = h("input", { type: "number", name: "duration", min: 1, max: 1000, value: 120, required: true });
  const language = h("input", { type: "text", name: "language", maxlength: 50, placeholder: "English" });
  const genres = h("input", { type: "text", name: "genres", placeholder: "drama, thriller" });
  const description = h("textarea", { name: "description", rows: 3, maxlength: 5000 });
  const message = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, "Add movie");
  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Movies"),
    h(
      "form",
      {
        class: "panel form-grid",
        "aria-label": "New movie",
        onsubmit: onSubmit(message, async (e) => {
          const movie = await create(submit, "Adding…", "admin/movies", {
            title: title.value.trim(),
            duration_minutes: Number(duration.value),
            language: language.value.trim() || null,
            genres: genres.value
              .split(",")
              .map((g) => g.trim())
              .filter(Boolean),
            description: description.value.trim(),
          });
          catalog.forget();
          e.target.reset();
          await drawList();
          message.ok(`“${movie.title}” was added. Create a show for it under Shows.`);
        }),
      },
      h("h3", {}, "New movie"),
      field("Title", title),
      field("Length (minutes)", duration),
      field("Language", language),
      field("Genres", genres, "Separate with commas."),
      field("Description", description),
      h("div", { class: "form-actions" }, submit),
      message.el,
    ),
    list,
  );

  async function drawList() {
    const movies = await api("movies", { query: { limit: 500 }, auth: false });
    mount(
      list,
      h("h3", {}, `${plural(movies.length, "movie")}`),
      h(
        "table",
        { class: "data-table" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Title", "Language", "Length", "Genres"].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          movies.map((m) =>
            h(
              "tr",
              {},
              h("td", {}, m.title),
              h("td", {}, m.language || "—"),
              h("td", {}, `${m.duration_minutes} min`),
              h("td", {}, m.genres.join(", ") || "—"),
            ),
          ),
        ),
      ),
    );
  }
  await drawList();
}

// -- theaters and screens -----------------------------------------------------------------------------

export async function theatersPanel(panel, query) {
  const name = h("input", { type: "text", name: "name", required: true, maxlength: 200 });
  const city = h("input", { type: "text", name: "city", required: true, maxlength: 100, list: "city-options" });
  const address = h("input", { type: "text", name: "address", required: true, maxlength: 500 });
  const message = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, "Add theater");
  const listBox = h("div", {});
  const screensBox = h("div", {});
  let selected = query.get("theater") || "";

  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Theaters & screens"),
    h(
      "form",
      {
        class: "panel form-grid",
        "aria-label": "New theater",
        onsubmit: onSubmit(message, async (e) => {
          const theater = await create(submit, "Adding…", "admin/theaters", {
            name: name.value.trim(),
            city: city.value.trim(),
            address: address.value.trim(),
          });
          catalog.forget();
          e.target.reset();
          selected = theater.id;
          await drawList();
          message.ok(`${theater.name} was added. Now give it a screen.`);
        }),
      },
      h("h3", {}, "New theater"),
      field("Name", name),
      field("City", city),
      field("Address", address),
      h("div", { class: "form-actions" }, submit),
      message.el,
    ),
    listBox,
    screensBox,
  );

  async function drawList() {
    const theaters = await api("theaters", { query: { limit: 500 }, auth: false });
    if (!selected && theaters.length) selected = theaters[0].id;
    const chooser = h(
      "select",
      { name: "theater" },
      theaters.map((t) => h("option", { value: t.id, selected: t.id === selected }, `${t.name} (${t.city})`)),
    );
    chooser.addEventListener("change", () => {
      selected = chooser.value;
      drawScreens();
    });
    mount(
      listBox,
      h(
        "datalist",
        { id: "city-options" },
        [...new Set(theaters.map((t) => t.city))].map((c) => h("option", { value: c })),
      ),
      h("div", { class: "toolbar" }, field("Screens of", chooser)),
    );
    await drawScreens();
  }

  async function drawScreens(done) {
    if (!selected) {
      mount(screensBox, notice("Add a theater first.", "info"));
      return;
    }
    const url = new URL(window.location.href);
    url.searchParams.set("theater", selected);
    history.replaceState(null, "", url.pathname + url.search);
    const figures = await report({ theater_id: selected });
    mount(
      screensBox,
      done ? notice(done, "success") : null,
      h("h3", {}, figures.screens.length ? plural(figures.screens.length, "screen") : "No screens yet"),
      h(
        "ul",
        { class: "screen-list" },
        figures.screens.map((s) =>
          h(
            "li",
            { class: "panel" },
            h("strong", {}, s.name),
            h("span", { class: "muted" }, ` · ${plural(s.capacity, "seat")}: `),
            h("span", {}, summariseRows(s.rows)),
            layoutPreview(s.rows),
          ),
        ),
      ),
      screenEditor(selected, async (screen) => {
        await drawScreens(
          screen.sections?.length
            ? `Venue ${screen.name} was created with ${plural(screen.capacity, "place")} in ${plural(
                screen.sections.length,
                "section",
              )}.`
            : `Screen ${screen.name} was created with ${plural(screen.seats.length, "seat")}.`,
        );
      }),
    );
  }

  await drawList();
}

function rowLabel(index) {
  let label = "";
  let n = index;
  do {
    label = String.fromCharCode(65 + (n % 26)) + label;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return label;
}

function summariseRows(rows) {
  const byCategory = new Map();
  for (const r of rows) byCategory.set(r.category, (byCategory.get(r.category) || 0) + r.seats);
  return [...byCategory.entries()].map(([c, n]) => `${n} ${c}`).join(", ");
}

// A picture of more seats than this would be a wall of dots (a stadium: 100,000 elements); the text
// next to it says the same.
const PREVIEW_MAX_SEATS = 2000;

/** A small picture of a layout (decorative; the text next to it says the same). */
function layoutPreview(rows) {
  // The sales report lists a venue's rows merged across its sections (and its standing places as a row
  // without a label): drawn as a screen they would mislead, so a large or sectioned layout is not drawn.
  const seats = rows.reduce((sum, r) => sum + r.seats, 0);
  if (seats > PREVIEW_MAX_SEATS || rows.some((r) => !r.row || r.seats > 100)) return null;
  const categories = [...new Set(rows.map((r) => r.category))];
  return h(
    "div",
    { class: "layout-preview", "aria-hidden": "true" },
    h("div", { class: "screen mini" }, "Screen"),
    rows.map((r) =>
      h(
        "div",
        { class: "preview-row" },
        h("span", { class: "row-label" }, r.row),
        h(
          "span",
          { class: "preview-seats" },
          Array.from({ length: r.seats }, () =>
            h("i", { class: `dot cat-${Math.min(categories.indexOf(r.category), 5)}` }),
          ),
        ),
      ),
    ),
  );
}

/**
 * The seat-layout editor: a cinema screen's rows, or a venue's sections (admin-venue.js), chosen by the
 * "Layout" switch; only the chosen form is in the page.
 */
export function screenEditor(theaterId, onCreated) {
  const slot = h("div", {});
  const forms = {
    rows: () => rowsEditor(theaterId, onCreated),
    sections: () => sectionEditor(theaterId, { create, onCreated, message: formMessage() }),
  };
  const built = {};
  const choose = (kind) => mount(slot, (built[kind] ||= forms[kind]()));
  const option = (kind, label, checked) =>
    h(
      "label",
      {},
      h("input", { type: "radio", name: "layout-kind", value: kind, checked, onchange: () => choose(kind) }),
      label,
    );
  choose("rows");
  return h(
    "section",
    { class: "panel screen-editor", "aria-labelledby": "new-screen-title" },
    h("h3", { id: "new-screen-title" }, "New screen"),
    h(
      "fieldset",
      { class: "layout-kind" },
      h("legend", { class: "visually-hidden" }, "Layout"),
      option("rows", "Rows of seats (a cinema screen)", true),
      option("sections", "Sections and standing zones (an arena or a stadium)", false),
    ),
    slot,
  );
}

/** The cinema screen's editor: rows front first, each with a number of seats and a category. */
function rowsEditor(theaterId, onCreated) {
  let rows = [
    { seats: 10, category: "standard" },
    { seats: 10, category: "standard" },
    { seats: 10, category: "premium" },
  ];
  const name = h("input", { type: "text", name: "screen-name", required: true, maxlength: 100, placeholder: "Audi 1" });
  const table = h("div", { class: "row-editor" });
  const preview = h("div", { class: "row-editor-preview" });
  const summary = h("p", { "aria-live": "polite" }); // stays in the page, so each change is read out
  const message = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, "Create screen");
  const addCount = h("input", { type: "number", min: 1, max: 26, value: 2, name: "add-count" });
  const addSeats = h("input", { type: "number", min: 1, max: 100, value: 12, name: "add-seats" });
  const addCategory = h("input", { type: "text", value: "premium", name: "add-category", list: "category-options" });

  function draw() {
    const labelled = rows.map((r, i) => ({ ...r, row: rowLabel(i) }));
    mount(
      table,
      h(
        "datalist",
        { id: "category-options" },
        KNOWN_CATEGORIES.map((c) => h("option", { value: c })),
      ),
      h(
        "table",
        { class: "data-table" },
        h("caption", {}, "Rows, front (nearest the screen) first"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Row", "Seats", "Category", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          labelled.map((r, i) => {
            const seats = h("input", {
              type: "number",
              min: 1,
              max: 100,
              value: r.seats,
              "aria-label": `Seats in row ${r.row}`,
              oninput: (e) => {
                rows[i].seats = Math.max(1, Math.min(100, Number(e.target.value) || 1));
                drawPreview();
              },
            });
            const category = h("input", {
              type: "text",
              value: r.category,
              list: "category-options",
              "aria-label": `Category of row ${r.row}`,
              oninput: (e) => {
                rows[i].category = e.target.value.trim().toLowerCase();
                drawPreview();
              },
            });
            return h(
              "tr",
              {},
              h("th", { scope: "row" }, r.row),
              h("td", {}, seats),
              h("td", {}, category),
              h(
                "td",
                { class: "row-buttons" },
                h(
                  "button",
                  {
                    type: "button",
                    class: "icon-button",
                    "aria-label": `Move row ${r.row} forward`,
                    disabled: i === 0,
                    onclick: () => move(i, -1),
                  },
                  "↑",
                ),
                h(
                  "button",
                  {
                    type: "button",
                    class: "icon-button",
                    "aria-label": `Move row ${r.row} back`,
                    disabled: i === rows.length - 1,
                    onclick: () => move(i, 1),
                  },
                  "↓",
                ),
                h(
                  "button",
                  {
                    type: "button",
                    class: "icon-button",
                    "aria-label": `Remove row ${r.row}`,
                    disabled: rows.length === 1,
                    onclick: () => ((rows = rows.filter((_, j) => j !== i)), draw()),
                  },
                  "✕",
                ),
              ),
            );
          }),
        ),
      ),
      h(
        "div",
        { class: "inline-form" },
        h("span", {}, "Add"),
        field("Rows", addCount),
        field("Seats each", addSeats),
        field("Category", addCategory),
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              const n = Math.max(1, Math.min(26, Number(addCount.value) || 1));
              for (let k = 0; k < n; k += 1)
                rows.push({
                  seats: Math.max(1, Math.min(100, Number(addSeats.value) || 1)),
                  category: addCategory.value.trim().toLowerCase() || "standard",
                });
              draw();
            },
          },
          "Add rows",
        ),
      ),
    );
    drawPreview();
  }

  function move(i, by) {
    const j = i + by;
    [rows[i], rows[j]] = [rows[j], rows[i]];
    draw();
  }

  function drawPreview() {
    const labelled = rows.map((r, i) => ({ ...r, row: rowLabel(i) }));
    const total = rows.reduce((sum, r) => sum + r.seats, 0);
    summary.textContent = `${plural(rows.length, "row")}, ${plural(total, "seat")}: ${summariseRows(labelled)}`;
    mount(preview, layoutPreview(labelled));
  }

  draw();
  return h(
    "form",
    {
      class: "screen-editor",
      "aria-label": "New screen",
      onsubmit: onSubmit(message, async () => {
        const bad = rows.find((r) => !CATEGORY_PATTERN.test(r.category));
        if (bad) throw new Error(`“${bad.category}” is not a category name: use lower-case letters, digits, - or _.`);
        const screen = await create(submit, "Creating…", `admin/theaters/${theaterId}/screens`, {
          name: name.value.trim(),
          rows: rows.map((r, i) => ({ row: rowLabel(i), seats: r.seats, category: r.category })),
        });
        await onCreated(screen);
      }),
    },
    field("Screen name", name),
    table,
    summary,
    preview,
    h("div", { class: "form-actions" }, submit),
    message.el,
  );
}

// -- shows --------------------------------------------------------------------------------------------

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export async function showsPanel(panel) {
  const [movies, theaters, figures] = await Promise.all([
    api("movies", { query: { limit: 500 }, auth: false }),
    api("theaters", { query: { limit: 500 }, auth: false }),
    report(),
  ]);
  const screens = figures.screens;
  const movieSelect = h(
    "select",
    { name: "movie", required: true },
    movies.map((m) => h("option", { value: m.id }, m.title)),
  );
  const theaterSelect = h(
    "select",
    { name: "theater", required: true },
    theaters.map((t) => h("option", { value: t.id }, `${t.name} (${t.city})`)),
  );
  const screenSelect = h("select", { name: "screen", required: true });
  const tomorrow = new Date(Date.now() + 86_400_000);
  tomorrow.setHours(19, 30, 0, 0);
  const startsAt = h("input", {
    type: "datetime-local",
    name: "starts",
    required: true,
    value: localInputValue(tomorrow),
  });
  const holdTtl = h("input", { type: "number", name: "hold-ttl", min: 1, max: 3600, placeholder: "600" });
  const salesOpen = h("input", { type: "datetime-local", name: "sales-open" });
  const salesClose = h("input", { type: "datetime-local", name: "sales-close" });
  const waitingRoom = h("input", { type: "checkbox", name: "waiting-room", "aria-describedby": "waiting-room-hint" });
  const pricesBox = h("fieldset", { class: "prices" });
  const priceInputs = new Map();
  const message = formMessage();
  const submit = h("button", { type: "submit", class: "primary" }, "Create show");
  const listBox = h("div", {});

  function drawScreens() {
    const own = screens.filter((s) => s.theater_id === theaterSelect.value);
    mount(
      screenSelect,
      own.length
        ? own.map((s) => h("option", { value: s.id }, `${s.name} · ${plural(s.capacity, "seat")}`))
        : h("option", { value: "" }, "No screens: add one under Theaters & screens"),
    );
    drawPrices();
  }

  function drawPrices() {
    const screen = screens.find((s) => s.id === screenSelect.value);
    const categories = screen ? [...new Set(screen.rows.map((r) => r.category))] : [];
    priceInputs.clear();
    mount(
      pricesBox,
      h("legend", {}, "Prices per seat"),
      categories.length
        ? categories.map((c) => {
            const input = h("input", {
              type: "number",
              min: 0,
              step: "0.01",
              required: true,
              name: `price-${c}`,
              value: DEFAULT_PRICES[c] ?? 250,
            });
            priceInputs.set(c, input);
            return field(`${capitalise(c)} (₹)`, input);
          })
        : h("p", { class: "muted" }, "Choose a screen to set its prices."),
    );
  }

  theaterSelect.addEventListener("change", drawScreens);
  screenSelect.addEventListener("change", drawPrices);
  drawScreens();

  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Shows"),
    h(
      "form",
      {
        class: "panel form-grid",
        "aria-label": "New show",
        onsubmit: onSubmit(message, async () => {
          if (!screenSelect.value) throw new Error("This theater has no screen yet: add one under Theaters & screens.");
          const body = {
            movie_id: movieSelect.value,
            screen_id: screenSelect.value,
            starts_at: new Date(startsAt.value).toISOString(),
            prices: Object.fromEntries([...priceInputs.entries()].map(([c, input]) => [c, Number(input.value)])),
          };
          if (holdTtl.value) body.hold_ttl_seconds = Number(holdTtl.value);
          if (salesOpen.value) body.sales_open_at = new Date(salesOpen.value).toISOString();
          if (salesClose.value) body.sales_close_at = new Date(salesClose.value).toISOString();
          if (waitingRoom.checked) body.waiting_room = true;
          const show = await create(submit, "Creating…", "admin/shows", body);
          catalog.forget();
          const movie = movies.find((m) => m.id === show.movie_id);
          message.ok(
            `${movie ? movie.title : "The show"} on ${formatDateTime(show.starts_at)} is on sale${
              show.waiting_room ? " through a waiting room" : ""
            }. `,
            show.waiting_room
              ? h("a", { href: `/app/admin/shows/${show.id}`, "data-link": true }, "Watch its waiting room")
              : h("a", { href: `/app/shows/${show.id}`, "data-link": true }, "Open its seat map"),
          );
          await drawList();
        }),
      },
      h("h3", {}, "New show"),
      field("Movie", movieSelect),
      field("Theater", theaterSelect),
      field("Screen", screenSelect),
      field("Starts at", startsAt, "Your local time."),
      pricesBox,
      h(
        "div",
        { class: "check-field" },
        h("label", {}, waitingRoom, "Sell through a waiting room"),
        h(
          "small",
          { class: "hint", id: "waiting-room-hint" },
          "For a rush: customers join a queue in a fair order that anyone can check, and are let in to choose seats as the seats left can serve them.",
        ),
      ),
      h(
        "details",
        { class: "more-options" },
        h("summary", {}, "More options"),
        field(
          "Hold length (seconds)",
          holdTtl,
          "How long seats stay held while someone pays. Empty: the service default (10 minutes).",
        ),
        field("Sales open", salesOpen, "Empty: at once."),
        field("Sales close", salesClose, "Empty: when the show starts."),
      ),
      h("div", { class: "form-actions" }, submit),
      message.el,
    ),
    listBox,
  );

  async function drawList() {
    const data = await report();
    const rows = data.shows.filter((s) => Date.parse(s.starts_at) > Date.now() - 6 * 3600_000);
    mount(
      listBox,
      h("h3", {}, "Upcoming shows"),
      rows.length
        ? h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "data-table" },
              h(
                "thead",
                {},
                h(
                  "tr",
                  {},
                  ["When", "Movie", "Where", "Sold", "Revenue", "Status", ""].map((c) => h("th", { scope: "col" }, c)),
                ),
              ),
              h(
                "tbody",
                {},
                rows.map((s) => showRow(s)),
              ),
            ),
          )
        : notice("No shows in the coming month.", "info"),
    );
  }

  function showRow(s) {
    const cancel = h("button", { type: "button", class: "link-button danger-text" }, "Cancel");
    cancel.addEventListener("click", async () => {
      await cancelShow(s, cancel, (text, kind) =>
        kind === "error" ? message.fail(new Error(text)) : message.ok(text),
      );
      await drawList();
    });
    return h(
      "tr",
      {},
      h("td", {}, formatDateTime(s.starts_at)),
      h("td", {}, s.movie_title),
      h("td", {}, `${s.theater_name} · ${s.screen_name}`),
      h("td", {}, `${s.sold} / ${s.capacity}`),
      h("td", {}, formatMoney(s.revenue)),
      h("td", {}, h("span", { class: `status-pill is-${s.status}` }, statusWords(s.status))),
      h(
        "td",
        { class: "row-buttons" },
        h("a", { href: `/app/admin/shows/${s.show_id}`, "data-link": true }, "Seats"),
        s.status === "on_sale" ? cancel : null,
      ),
    );
  }
  await drawList();
}

export function statusWords(status) {
  return { on_sale: "On sale", closed: "Closed", cancelled: "Cancelled" }[status] || status;
}

/** Cancel a show after asking; reports the refunds with say(text, kind). */
export async function cancelShow(show, button, say) {
  const title = show.movie_title || "this show";
  const sure = await confirmDialog(
    `Cancel ${title} on ${formatDateTime(show.starts_at)}? Sales stop, holds are released and every booking is refunded in full.`,
    { confirmLabel: "Cancel the show", cancelLabel: "Keep it", danger: true },
  );
  if (!sure) return false;
  try {
    const result = await busy(button, "Cancelling…", () =>
      api(`admin/shows/${show.show_id}/cancel`, { method: "POST" }),
    );
    catalog.forget();
    say(
      `The show was cancelled. ${plural(result.bookings_cancelled, "booking")} cancelled, ${result.refunded} refunded${
        result.refunds_pending ? `, ${result.refunds_pending} refunds still in progress` : ""
      }.`,
      "success",
    );
    return true;
  } catch (error) {
    say(error.message, "error");
    return false;
  }
}
