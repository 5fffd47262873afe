// One theater: its showtimes by day, grouped by movie.

import * as catalog from "../catalog.js";
import { h, localDay, mount, notice } from "../dom.js";
import { dayPicker, groupShows, showtimeLink } from "./movie.js";

export async function render(main, { id }) {
  const [theater, shows] = await Promise.all([catalog.theater(id), catalog.showsOnSale({ theater_id: id })]);
  const movies = new Map(
    await Promise.all([...new Set(shows.map((s) => s.movie_id))].map(async (m) => [m, await catalog.movie(m)])),
  );
  const days = [...new Set(shows.map((s) => localDay(s.starts_at)))].sort();
  let day = days[0];
  const body = h("section", {});
  mount(main, h("h1", {}, theater.name), h("p", { class: "muted" }, `${theater.address} · ${theater.city}`), body);

  function draw() {
    if (!shows.length) {
      mount(body, notice("No shows are on sale at this theater right now.", "info"));
      return;
    }
    const byMovie = groupShows(shows.filter((s) => localDay(s.starts_at) === day), (s) => s.movie_id);
    mount(
      body,
      dayPicker(shows, days, day, (d) => ((day = d), draw())),
      h(
        "ul",
        { class: "theater-list" },
        [...byMovie.entries()].map(([movieId, list]) => {
          const movie = movies.get(movieId);
          return h(
            "li",
            { class: "theater-card" },
            h(
              "div",
              {},
              h(
                "h2",
                {},
                h(
                  "a",
                  { href: `/app/movies/${movie.id}?city=${encodeURIComponent(theater.city)}`, "data-link": true },
                  movie.title,
                ),
              ),
              h("p", { class: "muted" }, [movie.language, `${movie.duration_minutes} min`].filter(Boolean).join(" · ")),
            ),
            h(
              "div",
              { class: "times", role: "list", "aria-label": `Showtimes of ${movie.title}` },
              list.map((s) => showtimeLink(s, `${movie.title} at ${theater.name}`)),
            ),
          );
        }),
      ),
    );
  }
  draw();
}
