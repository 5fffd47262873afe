// Home: find a movie. A city picker (remembered), a search box (typo-tolerant, ranked by the API), and
// the movies showing in that city; each leads to its showtimes.

import { api } from "../api.js";
import * as catalog from "../catalog.js";
import { field, h, mount, notice, plural, spinner } from "../dom.js";

export async function render(main, _params, query) {
  const citySelect = await catalog.citySelect(query);
  const search = h("input", {
    type: "search",
    name: "q",
    placeholder: "Title, genre or language",
    value: query.get("q") || "",
    autocomplete: "off",
  });
  const results = h("section", { class: "results", "aria-busy": "true" });
  const found = h("p", { class: "visually-hidden", role: "status" }); // "4 movies", read out after each search
  const form = h(
    "form",
    { class: "search-bar", role: "search", onsubmit: (e) => (e.preventDefault(), load()) },
    field("City", citySelect),
    field("Search movies", search),
    h("button", { type: "submit", class: "primary" }, "Search"),
  );

  mount(
    main,
    h(
      "div",
      { class: "hero" },
      h("h1", {}, "What would you like to watch?"),
      h("p", { class: "muted" }, "Pick a movie, then a theater and a time. Seats are held for you while you pay."),
    ),
    form,
    found,
    results,
  );

  let timer = null;
  let controller = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  citySelect.addEventListener("change", () => {
    catalog.setPreferredCity(citySelect.value);
    load();
  });

  async function load() {
    controller?.abort();
    controller = new AbortController();
    const q = search.value.trim();
    const chosenCity = citySelect.value;
    const url = new URL(window.location.href);
    q ? url.searchParams.set("q", q) : url.searchParams.delete("q");
    chosenCity ? url.searchParams.set("city", chosenCity) : url.searchParams.delete("city");
    history.replaceState(null, "", url.pathname + url.search);
    results.setAttribute("aria-busy", "true");
    mount(results, spinner("Finding movies…"));
    try {
      const page = await api("search/movies", {
        query: { q, city: chosenCity, limit: 50 },
        auth: false,
        signal: controller.signal,
      });
      drawResults(page, q, chosenCity);
    } catch (error) {
      if (error.name === "AbortError") return;
      mount(results, notice(error.message, "error"));
    } finally {
      results.setAttribute("aria-busy", "false");
    }
  }

  function drawResults(page, q, chosenCity) {
    const where = chosenCity ? ` in ${chosenCity}` : "";
    found.textContent = `${page.total === 0 ? "No" : page.total} ${page.total === 1 ? "movie" : "movies"} found${where}.`;
    if (!page.items.length) {
      mount(
        results,
        notice(
          q ? `No movies match “${q}”${where}. Try other words.` : `No movies are showing${where} right now.`,
          "info",
        ),
      );
      return;
    }
    mount(
      results,
      h("h2", { class: "results-title" }, q ? `${plural(page.total, "movie")} for “${q}”${where}` : `Showing${where}`),
      h(
        "ul",
        { class: "movie-grid" },
        page.items.map((m) =>
          h(
            "li",
            {},
            h(
              "a",
              {
                class: "movie-card",
                href: `/app/movies/${m.id}${chosenCity ? `?city=${encodeURIComponent(chosenCity)}` : ""}`,
                "data-link": true,
              },
              h("span", { class: `poster poster-${hashIndex(m.title)}`, "aria-hidden": "true" }, initials(m.title)),
              h("span", { class: "movie-title" }, m.title),
              h(
                "span",
                { class: "movie-meta" },
                [m.language, `${m.duration_minutes} min`, m.genres.join(", ")].filter(Boolean).join(" · "),
              ),
            ),
          ),
        ),
      ),
    );
  }

  await load();
  return () => {
    clearTimeout(timer);
    controller?.abort();
  };
}

export function initials(title) {
  return title
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join("");
}

export function hashIndex(text, buckets = 6) {
  let hash = 0;
  for (const ch of text) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return hash % buckets;
}
