// A venue at a glance (an arena, a stadium): its sections as tiles in a simple stadium-like arrangement,
// the seated sections around the field in four stands (clockwise in their display order: north, east,
// south, west) and the standing zones on the field, by the stage. Each tile says its name, its price
// range and how many places are free, and is coloured by the share of places free (never by colour
// alone: the words say the same, and the legend explains the colours).
//
// VenueMap draws GET /shows/{id}/venue's `sections` and updates its tiles in place on each poll (so
// focus stays put); the admin's layout editor draws its preview with venuePlan() and no counts.

import { formatMoney, h, mount } from "./dom.js";

const numbers = new Intl.NumberFormat("en-IN");
export const formatCount = (n) => numbers.format(n);

/** How full a section is: a level for the colour (many, some, few, none) and the same in words. */
export function availability(section) {
  const share = section.capacity ? section.available / section.capacity : 0;
  if (section.available <= 0) return { share, level: "none", words: "None left" };
  if (share < 0.1) return { share, level: "few", words: `${formatCount(section.available)} left` };
  if (share < 0.5) return { share, level: "some", words: `${formatCount(section.available)} free` };
  return { share, level: "many", words: `${formatCount(section.available)} free` };
}

/** ₹80, or ₹80–₹120 when the section's categories are priced differently. */
export function priceRange(section) {
  if (section.price_min === section.price_max) return formatMoney(section.price_min);
  return `${formatMoney(section.price_min)}–${formatMoney(section.price_max)}`;
}

/** A section in one sentence, for screen readers and the tile's tooltip. */
export function sectionWords(section) {
  const kind = section.kind === "standing" ? "standing" : section.category;
  return `${section.name}, ${kind}, ${priceRange(section)}, ${formatCount(section.available)} of ${formatCount(
    section.capacity,
  )} places free`;
}

/**
 * Arrange `sections` as a stadium: the seated ones split into four stands clockwise, the standing ones on
 * the field. tile(section) makes each tile. Returns the plan element.
 */
export function venuePlan(sections, tile, { front = "Stage" } = {}) {
  const seated = sections.filter((s) => s.kind !== "standing");
  const standing = sections.filter((s) => s.kind === "standing");
  const stands = [[], [], [], []]; // north, east, south, west
  seated.forEach((section, i) => stands[Math.floor((i * 4) / seated.length)].push(section));
  // Clockwise: the south stand runs right to left and the west one bottom to top.
  stands[2].reverse();
  stands[3].reverse();
  const stand = (name, list) => {
    const side = name === "east" || name === "west";
    const el = h("div", { class: `stand stand-${name}` }, list.map((section) => tile(section)));
    // Through the CSSOM: the Content-Security-Policy refuses style attributes.
    if (side) el.style.setProperty("--stand-cols", String(Math.max(1, Math.min(3, Math.ceil(list.length / 7)))));
    return el;
  };
  return h(
    "div",
    { class: "venue-plan" },
    stand("north", stands[0]),
    stand("west", stands[3]),
    h(
      "div",
      { class: "venue-field" },
      h("div", { class: "venue-stage", "aria-hidden": "true" }, front),
      h(
        "div",
        { class: "venue-floor" },
        standing.map((section) => tile(section)),
      ),
    ),
    stand("east", stands[1]),
    stand("south", stands[2]),
  );
}

/** The colours of the tiles, in words. */
export function availabilityLegend() {
  return h(
    "ul",
    { class: "legend-list venue-legend", "aria-label": "What the colours of the sections mean" },
    [
      ["many", "Half or more free"],
      ["some", "Under half free"],
      ["few", "Under 10% free"],
      ["none", "None left"],
    ].map(([level, label]) =>
      h("li", {}, h("span", { class: `swatch venue-swatch is-${level}`, "aria-hidden": "true" }), h("span", {}, label)),
    ),
  );
}

export class VenueMap {
  /** options: label (the map's accessible name), onPick(code), front (the field's label). */
  constructor(options = {}) {
    this.options = options;
    this.sections = [];
    this.tiles = new Map(); // code -> button
    this.current = null;
    this.element = h("div", { class: "venue-map", role: "group", "aria-label": options.label || "Sections" });
  }

  /** Draw or update the tiles from the overview's sections. */
  setSections(sections) {
    const same =
      sections.length === this.sections.length && sections.every((s, i) => s.code === this.sections[i].code);
    this.sections = sections;
    if (!same) {
      this.tiles.clear();
      mount(
        this.element,
        venuePlan(sections, (section) => this.tile(section), { front: this.options.front }),
      );
    }
    for (const section of sections) this.paint(section);
  }

  section(code) {
    return this.sections.find((s) => s.code === code) || null;
  }

  /** Mark the open section (null: none). */
  select(code) {
    this.current = code;
    for (const [c, tile] of this.tiles) tile.setAttribute("aria-pressed", c === code ? "true" : "false");
  }

  tile(section) {
    const button = h("button", {
      type: "button",
      class: "venue-tile",
      "data-section": section.code,
      "aria-pressed": section.code === this.current ? "true" : "false",
      onclick: () => this.options.onPick?.(section.code),
    });
    this.tiles.set(section.code, button);
    return button;
  }

  paint(section) {
    const button = this.tiles.get(section.code);
    if (!button) return;
    const { level, words } = availability(section);
    button.className = `venue-tile is-${level}${section.kind === "standing" ? " is-standing" : ""}`;
    button.dataset.level = level;
    button.setAttribute("aria-label", sectionWords(section));
    button.title = sectionWords(section);
    mount(
      button,
      h("span", { class: "tile-name" }, section.name),
      h(
        "span",
        { class: "tile-price" },
        section.kind === "standing" ? `Standing · ${priceRange(section)}` : priceRange(section),
      ),
      h("span", { class: "tile-free" }, words),
    );
  }
}
