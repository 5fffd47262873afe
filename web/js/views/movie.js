// A movie's showtimes: choose a city, then a day, then a theater's showtime.

import * as catalog from "../catalog.js";
import { field, formatDay, formatMoney, formatTime, h, localDay, mount, notice } from "../dom.js";
import { hashIndex, initials } from "./home.js";

export async function render(main, { id }, query) {
  const [movie, shows, theaters] = await Promise.all([
    catalog.movie(id),
    catalog.showsOnSale({ movie_id: id }),
    catalog.theaters(),
  ]);
  const theaterById = new Map(theaters.map((t) => [t.id, t]));
  const cities = [...new Set(shows.map((s) => theaterById.get(s.theater_id)?.city).filter(Boolean))].sort();
  let city = query.get("city") || catalog.preferredCity();
  if (!cities.includes(city)) city = cities.length === 1 ? cities[0] : "";
  let day = query.get("day") || "";

  const citySelect = h(
    "select",
    { name: "city" },
    h("option", { value: "" }, "Choose a city"),
    cities.map((c) => h("option", { value: c, selected: c === city }, c)),
  );
  const body = h("section", { class: "showtimes" });

  mount(
    main,
    h(
      "div",
      { class: "movie-head" },
      h(
        "span",
        { class: `poster poster-${hashIndex(movie.title)} large`, "aria-hidden": "true" },
        initials(movie.title),
      ),
      h(
        "div",
        {},
        h("h1", {}, movie.title),
        h(
          "p",
          { class: "movie-meta" },
          [movie.language, `${movie.duration_minutes} min`, movie.genres.join(", ")].filter(Boolean).join(" · "),
        ),
        movie.description ? h("p", {}, movie.description) : null,
      ),
    ),
    h("div", { class: "toolbar" }, field("City", citySelect)),
    body,
  );

  citySelect.addEventListener("change", () => {
    city = citySelect.value;
    catalog.setPreferredCity(city);
    day = "";
    draw();
  });

  function draw() {
    const url = new URL(window.location.href);
    city ? url.searchParams.set("city", city) : url.searchParams.delete("city");
    day ? url.searchParams.set("day", day) : url.searchParams.delete("day");
    history.replaceState(null, "", url.pathname + url.search);
    if (!shows.length) {
      mount(body, notice("This movie has no shows on sale right now.", "info"));
      return;
    }
    if (!city) {
      mount(body, notice(`Choose a city to see showtimes. Showing in ${cities.join(", ")}.`, "info"));
      return;
    }
    const inCity = shows.filter((s) => theaterById.get(s.theater_id)?.city === city);
    const days = [...new Set(inCity.map((s) => localDay(s.starts_at)))].sort();
    if (!days.includes(day)) day = days[0];
    const dayShows = inCity.filter((s) => localDay(s.starts_at) === day);
    const byTheater = groupShows(dayShows, (s) => s.theater_id);
    mount(
      body,
      dayPicker(inCity, days, day, (d) => ((day = d), draw())),
      h(
        "ul",
        { class: "theater-list" },
        [...byTheater.entries()]
          .sort((a, b) => theaterById.get(a[0]).name.localeCompare(theaterById.get(b[0]).name))
          .map(([theaterId, list]) => {
            const theater = theaterById.get(theaterId);
            return h(
              "li",
              { class: "theater-card" },
              h(
                "div",
                {},
                h("h2", {}, h("a", { href: `/app/theaters/${theater.id}`, "data-link": true }, theater.name)),
                h("p", { class: "muted" }, theater.address),
              ),
              h(
                "div",
                { class: "times", role: "list", "aria-label": `Showtimes at ${theater.name}` },
                list.map((s) => showtimeLink(s, `${movie.title} at ${theater.name}`)),
              ),
            );
          }),
      ),
    );
  }
  draw();
}

/** Shows grouped by `key(show)`, in the order each key first comes. */
export function groupShows(shows, key) {
  const groups = new Map();
  for (const s of shows) {
    if (!groups.has(key(s))) groups.set(key(s), []);
    groups.get(key(s)).push(s);
  }
  return groups;
}

/** The day chips over a list of showtimes: each of `days` by its date, `chosen` pressed; pick(day) on a click. */
export function dayPicker(shows, days, chosen, pick) {
  return h(
    "div",
    { class: "day-picker", role: "group", "aria-label": "Day" },
    days.map((d) =>
      h(
        "button",
        { type: "button", class: "chip", "aria-pressed": d === chosen ? "true" : "false", onclick: () => pick(d) },
        formatDay(shows.find((s) => localDay(s.starts_at) === d).starts_at),
      ),
    ),
  );
}

/** A showtime button: the time and the cheapest price. */
export function showtimeLink(show, what) {
  const prices = Object.values(show.prices);
  const from = prices.length ? Math.min(...prices) : 0;
  return h(
    "a",
    {
      class: "showtime",
      role: "listitem",
      href: `/app/shows/${show.id}`,
      "data-link": true,
      "aria-label": `${formatTime(show.starts_at)}, ${what}, from ${formatMoney(from)}`,
    },
    h("strong", {}, formatTime(show.starts_at)),
    h("small", {}, `from ${formatMoney(from)}`),
  );
}
