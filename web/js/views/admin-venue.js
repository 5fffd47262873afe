// The layout editor's venue form: a screen built of sections (an arena, a stadium) instead of rows.
// Seated sections have a code (used in seat ids: `112-K-14`), a name, a category and rows × seats (rows
// A, B, … front first); standing zones a code, a name, a category and a capacity. Several numbered
// blocks can be added at once (101, 102, …). The preview is the customers' venue plan (venue.js), and
// the form posts `{"name", "sections": [...]}` to POST /admin/theaters/{id}/screens. The limits are the
// API's (api/schemas.py SectionIn / ScreenIn), checked here first so mistakes are said before sending.

import { field, h, mount, plural } from "../dom.js";
import { capitalise } from "../seatmap.js";
import { formatCount, venuePlan } from "../venue.js";

const CODE_PATTERN = /^[A-Z0-9]{1,6}$/;
const CATEGORY_PATTERN = /^[a-z][a-z0-9_-]{0,29}$/;
export const MAX_SECTIONS = 400;
export const MAX_PLACES = 150_000;
const MAX_ROWS = 100;
const MAX_SEATS_PER_ROW = 200;
const CATEGORIES = ["standard", "premium", "vip", "floor", "balcony"];

/** Row labels A…Z, AA, AB…: the API's `[A-Z]{1,3}`. */
export function rowLabel(index) {
  let label = "";
  let n = index;
  do {
    label = String.fromCharCode(65 + (n % 26)) + label;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return label;
}

const placesOf = (s) => (s.kind === "standing" ? s.capacity : s.rows * s.seats);

/** "3 sections, 610 places: 2 seated (110 seats), 1 standing zone (500 places)". */
export function summariseSections(sections) {
  const seated = sections.filter((s) => s.kind !== "standing");
  const standing = sections.filter((s) => s.kind === "standing");
  const seats = seated.reduce((sum, s) => sum + placesOf(s), 0);
  const places = standing.reduce((sum, s) => sum + placesOf(s), 0);
  const parts = [];
  if (seated.length) parts.push(`${seated.length} seated (${formatCount(seats)} seats)`);
  if (standing.length) {
    const unit = places === 1 ? "place" : "places";
    parts.push(`${plural(standing.length, "standing zone")} (${formatCount(places)} ${unit})`);
  }
  return `${plural(sections.length, "section")}, ${formatCount(seats + places)} places${
    parts.length ? `: ${parts.join(", ")}` : ""
  }`;
}

/** The codes of `count` sections from `code`: 101 → 101, 102…; B1 → B1, B2…; one section: the code. */
function codesFrom(code, count) {
  if (count === 1) return [code];
  const match = /^(.*?)(\d+)$/.exec(code);
  if (!match) throw new Error(`To add ${count} sections at once, end the code in a number (like 101 or B1).`);
  const [, prefix, digits] = match;
  return Array.from({ length: count }, (_, i) => {
    const n = String(Number(digits) + i).padStart(digits.length, "0");
    return `${prefix}${n}`;
  });
}

/** The name of section `code` when `count` sections are added from one form. */
function nameFor(name, first, code, count, fallback) {
  if (!name) return `${fallback} ${code}`;
  if (count === 1) return name;
  return name.includes(first) ? name.replace(first, code) : `${name} ${code}`;
}

/**
 * The sections form. create(submit, busyText, path, json) posts (admin-catalog.js); onCreated(screen)
 * runs after the venue was created; message is the editor's message area (say / ok / fail).
 */
export function sectionEditor(theaterId, { create, onCreated, message }) {
  let sections = [{ code: "101", name: "Block 101", kind: "seated", category: "standard", rows: 10, seats: 20 }];
  const name = h("input", { type: "text", name: "venue-name", required: true, maxlength: 100, placeholder: "Arena" });
  const table = h("div", { class: "row-editor" });
  const summary = h("p", { "aria-live": "polite" });
  const preview = h("div", { class: "venue-preview", "aria-hidden": "true" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create venue");

  const seated = {
    code: h("input", { type: "text", name: "seated-code", value: "102", maxlength: 6, autocapitalize: "characters" }),
    name: h("input", { type: "text", name: "seated-name", placeholder: "Block 102", maxlength: 100 }),
    category: h("input", { type: "text", name: "seated-category", value: "standard", list: "venue-category-options" }),
    rows: h("input", { type: "number", name: "seated-rows", min: 1, max: MAX_ROWS, value: 10 }),
    seats: h("input", { type: "number", name: "seated-seats", min: 1, max: MAX_SEATS_PER_ROW, value: 20 }),
    count: h("input", { type: "number", name: "seated-count", min: 1, max: MAX_SECTIONS, value: 1 }),
  };
  const standing = {
    code: h("input", { type: "text", name: "standing-code", value: "FLA", maxlength: 6, autocapitalize: "characters" }),
    name: h("input", { type: "text", name: "standing-name", placeholder: "Floor A", maxlength: 100 }),
    category: h("input", { type: "text", name: "standing-category", value: "floor", list: "venue-category-options" }),
    capacity: h("input", { type: "number", name: "standing-capacity", min: 1, max: MAX_PLACES, value: 1000 }),
  };

  function whole(input, low, high, what) {
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < low || n > high) {
      throw new Error(`${what}: a whole number from ${low} to ${formatCount(high)}.`);
    }
    return n;
  }

  function category(input) {
    const value = input.value.trim().toLowerCase();
    if (!CATEGORY_PATTERN.test(value)) {
      throw new Error(`“${value}” is not a category name: use lower-case letters, digits, - or _.`);
    }
    return value;
  }

  /** Check and add `more` sections, or say why not. */
  function add(more) {
    const taken = new Set(sections.map((s) => s.code));
    const clash = more.find((s) => taken.has(s.code));
    if (clash) throw new Error(`There is a section ${clash.code} already: each section needs its own code.`);
    if (sections.length + more.length > MAX_SECTIONS) throw new Error(`A venue has at most ${MAX_SECTIONS} sections.`);
    const total = [...sections, ...more].reduce((sum, s) => sum + placesOf(s), 0);
    if (total > MAX_PLACES) {
      throw new Error(`That makes ${formatCount(total)} places; a venue has at most ${formatCount(MAX_PLACES)}.`);
    }
    sections = [...sections, ...more];
    message.clear();
    draw();
  }

  function code(input) {
    const value = input.value.trim().toUpperCase();
    if (!CODE_PATTERN.test(value)) {
      throw new Error("A section code is 1 to 6 capital letters or digits, like 112 or FLA.");
    }
    return value;
  }

  function addSeated() {
    const count = whole(seated.count, 1, MAX_SECTIONS, "How many");
    const first = code(seated.code);
    const codes = codesFrom(first, count);
    if (codes.some((c) => !CODE_PATTERN.test(c))) throw new Error("Those codes would be longer than 6 characters.");
    const rows = whole(seated.rows, 1, MAX_ROWS, "Rows");
    const seats = whole(seated.seats, 1, MAX_SEATS_PER_ROW, "Seats per row");
    const cat = category(seated.category);
    const given = seated.name.value.trim();
    const nameOf = (c) => nameFor(given, first, c, count, "Block");
    add(codes.map((c) => ({ code: c, name: nameOf(c), kind: "seated", category: cat, rows, seats })));
    const next = /\d$/.test(first) ? codesFrom(codes[codes.length - 1], 2)[1] : "";
    seated.code.value = CODE_PATTERN.test(next) ? next : "";
    seated.name.value = "";
    seated.name.placeholder = seated.code.value ? `Block ${seated.code.value}` : "";
  }

  function addStanding() {
    const c = code(standing.code);
    add([
      {
        code: c,
        name: standing.name.value.trim() || `Zone ${c}`,
        kind: "standing",
        category: category(standing.category),
        capacity: whole(standing.capacity, 1, MAX_PLACES, "Capacity"),
      },
    ]);
    standing.name.value = "";
  }

  function attempt(work) {
    try {
      work();
    } catch (error) {
      message.fail(error);
    }
  }

  function move(i, by) {
    const j = i + by;
    [sections[i], sections[j]] = [sections[j], sections[i]];
    draw();
  }

  function draw() {
    mount(
      table,
      h(
        "table",
        { class: "data-table" },
        h("caption", {}, "Sections, in order round the venue"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["Code", "Name", "Kind", "Category", "Places", ""].map((c) => h("th", { scope: "col" }, c)),
          ),
        ),
        h(
          "tbody",
          {},
          sections.map((s, i) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, s.code),
              h("td", {}, s.name),
              h("td", {}, s.kind === "standing" ? "Standing" : "Seated"),
              h("td", {}, capitalise(s.category)),
              h(
                "td",
                {},
                s.kind === "standing"
                  ? `${formatCount(s.capacity)} standing`
                  : `${plural(s.rows, "row")} × ${s.seats} = ${formatCount(placesOf(s))}`,
              ),
              h(
                "td",
                { class: "row-buttons" },
                h(
                  "button",
                  {
                    type: "button",
                    class: "icon-button",
                    "aria-label": `Move section ${s.code} earlier`,
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
                    "aria-label": `Move section ${s.code} later`,
                    disabled: i === sections.length - 1,
                    onclick: () => move(i, 1),
                  },
                  "↓",
                ),
                h(
                  "button",
                  {
                    type: "button",
                    class: "icon-button",
                    "aria-label": `Remove section ${s.code}`,
                    onclick: () => ((sections = sections.filter((_, j) => j !== i)), draw()),
                  },
                  "✕",
                ),
              ),
            ),
          ),
        ),
      ),
    );
    summary.textContent = sections.length ? summariseSections(sections) : "No sections yet: add one below.";
    mount(
      preview,
      venuePlan(
        sections.map((s) => ({ ...s, capacity: placesOf(s) })),
        (s) =>
          h(
            "div",
            { class: `venue-tile is-many${s.kind === "standing" ? " is-standing" : ""}` },
            h("span", { class: "tile-name" }, s.name),
            h("span", { class: "tile-price" }, capitalise(s.category)),
            h(
              "span",
              { class: "tile-free" },
              s.kind === "standing" ? `${formatCount(s.capacity)} standing` : `${s.rows} × ${s.seats}`,
            ),
          ),
      ),
    );
  }

  draw();
  return h(
    "form",
    {
      class: "screen-editor section-editor",
      "aria-label": "New venue",
      onsubmit: async (event) => {
        event.preventDefault();
        message.clear();
        try {
          if (!sections.length) throw new Error("Add at least one section.");
          const screen = await create(submit, "Creating…", `admin/theaters/${theaterId}/screens`, {
            name: name.value.trim(),
            sections: sections.map((s) =>
              s.kind === "standing"
                ? { code: s.code, name: s.name, kind: "standing", category: s.category, capacity: s.capacity }
                : {
                    code: s.code,
                    name: s.name,
                    category: s.category,
                    rows: Array.from({ length: s.rows }, (_, i) => ({ row: rowLabel(i), seats: s.seats })),
                  },
            ),
          });
          await onCreated(screen);
        } catch (error) {
          message.fail(error);
        }
      },
    },
    h(
      "datalist",
      { id: "venue-category-options" },
      CATEGORIES.map((c) => h("option", { value: c })),
    ),
    field("Venue name", name),
    table,
    summary,
    h(
      "fieldset",
      { class: "inline-form" },
      h("legend", {}, "Add a seated section"),
      field("Code", seated.code),
      field("Name", seated.name),
      field("Category", seated.category),
      field("Rows", seated.rows),
      field("Seats per row", seated.seats),
      field("How many", seated.count),
      h("button", { type: "button", class: "secondary", onclick: () => attempt(addSeated) }, "Add seated"),
      h("p", { class: "hint" }, "Several at once: their codes count up from the one given (102, 103, …)."),
    ),
    h(
      "fieldset",
      { class: "inline-form" },
      h("legend", {}, "Add a standing zone"),
      field("Code", standing.code),
      field("Name", standing.name),
      field("Category", standing.category),
      field("Capacity", standing.capacity),
      h("button", { type: "button", class: "secondary", onclick: () => attempt(addStanding) }, "Add standing zone"),
    ),
    h("h4", { class: "preview-title" }, "Preview"),
    preview,
    h("div", { class: "form-actions" }, submit),
    message.el,
  );
}
