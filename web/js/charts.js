// Charts as inline SVG (no library): horizontal bars for per-show figures, columns for per-day figures.
// Each chart is a <figure> with a title, an SVG that screen readers read as one image with a summary,
// and the same numbers as a table under "Show the numbers".

import { h } from "./dom.js";

const WIDTH = 640;

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function numbersTable(caption, items, valueLabel) {
  return h(
    "details",
    { class: "chart-numbers" },
    h("summary", {}, "Show the numbers"),
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Item"), h("th", { scope: "col" }, valueLabel))),
      h(
        "tbody",
        {},
        items.map((item) =>
          h("tr", {}, h("th", { scope: "row" }, item.detail || item.label), h("td", {}, item.display)),
        ),
      ),
    ),
  );
}

function summary(items) {
  if (!items.length) return "No data.";
  const top = [...items].sort((a, b) => b.value - a.value)[0];
  return `${items.length} items; highest: ${top.label}, ${top.display}.`;
}

/** A chart's <svg>, read as one image: the title names it and a summary of the items describes it. */
function chartSvg({ kind, tone, height, title, items, attrs = {} }, ...marks) {
  const id = `chart-${Math.random().toString(36).slice(2, 8)}`;
  return h(
    "svg:svg",
    {
      class: `chart chart-${kind} tone-${tone}`,
      viewBox: `0 0 ${WIDTH} ${height}`,
      role: "img",
      "aria-labelledby": `${id}-title ${id}-desc`,
      ...attrs,
    },
    h("svg:title", { id: `${id}-title` }, title),
    h("svg:desc", { id: `${id}-desc` }, summary(items)),
    ...marks,
  );
}

/** The <figure> around a chart: its caption, the chart (or a word that there is nothing), the numbers. */
function chartFigure(title, items, svg, valueLabel) {
  return h(
    "figure",
    { class: "chart-figure" },
    h("figcaption", {}, title),
    items.length ? svg : h("p", { class: "muted" }, "No data for this period."),
    items.length ? numbersTable(title, items, valueLabel) : null,
  );
}

/** items: [{label, value, display, detail?}]; max: the value of a full bar (default: the largest value);
 * `detail` is the longer label of the table and the tooltip. */
export function horizontalBars({ title, items, max, valueLabel = "Value", tone = "a" }) {
  const top = max ?? Math.max(1e-9, ...items.map((i) => i.value));
  const rowHeight = 26;
  const labelWidth = 250;
  const barWidth = WIDTH - labelWidth - 90;
  const height = Math.max(rowHeight, items.length * rowHeight) + 8;
  const svg = chartSvg(
    { kind: "bars", tone, height, title, items, attrs: { preserveAspectRatio: "xMinYMin meet" } },
    items.map((item, i) => {
      const y = 4 + i * rowHeight;
      const w = Math.max(item.value > 0 ? 2 : 0, (item.value / top) * barWidth);
      return h(
        "svg:g",
        {},
        h(
          "svg:text",
          { x: labelWidth - 8, y: y + 17, class: "chart-label", "text-anchor": "end" },
          truncate(item.label, 34),
          h("svg:title", {}, item.detail || item.label),
        ),
        h("svg:rect", { x: labelWidth, y: y + 4, width: barWidth, height: rowHeight - 8, class: "chart-track", rx: 3 }),
        h("svg:rect", { x: labelWidth, y: y + 4, width: w, height: rowHeight - 8, class: "chart-bar", rx: 3 }),
        h("svg:text", { x: labelWidth + barWidth + 8, y: y + 17, class: "chart-value" }, item.display),
      );
    }),
  );
  return chartFigure(title, items, svg, valueLabel);
}

/** Columns over days: items [{label, value, display}] in order. */
export function columns({ title, items, max, valueLabel = "Value", tone = "b", format = (v) => String(v) }) {
  const top = max ?? Math.max(1e-9, ...items.map((i) => i.value));
  const height = 220;
  const left = 56;
  const bottom = 36;
  const plotHeight = height - bottom - 12;
  const plotWidth = WIDTH - left - 12;
  const slot = plotWidth / Math.max(1, items.length);
  const bar = Math.min(48, slot * 0.7);
  const ticks = [0, 0.5, 1].map((f) => ({ f, value: top * f }));
  const labelEvery = Math.ceil(items.length / 10);
  const svg = chartSvg(
    { kind: "columns", tone, height, title, items },
    ticks.map((t) => {
      const y = 12 + plotHeight * (1 - t.f);
      return h(
        "svg:g",
        {},
        h("svg:line", { x1: left, x2: WIDTH - 12, y1: y, y2: y, class: "chart-gridline" }),
        h("svg:text", { x: left - 6, y: y + 4, class: "chart-axis", "text-anchor": "end" }, format(t.value)),
      );
    }),
    items.map((item, i) => {
      const x = left + i * slot + (slot - bar) / 2;
      const barHeight = Math.max(item.value > 0 ? 2 : 0, (item.value / top) * plotHeight);
      return h(
        "svg:g",
        {},
        h(
          "svg:rect",
          { x, y: 12 + plotHeight - barHeight, width: bar, height: barHeight, class: "chart-bar", rx: 3 },
          h("svg:title", {}, `${item.label}: ${item.display}`),
        ),
        i % labelEvery === 0
          ? h(
              "svg:text",
              { x: x + bar / 2, y: height - bottom + 16, class: "chart-axis", "text-anchor": "middle" },
              item.label,
            )
          : null,
      );
    }),
  );
  return chartFigure(title, items, svg, valueLabel);
}
