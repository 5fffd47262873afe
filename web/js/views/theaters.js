// Theaters: choose a city, then a theater (its page lists every showtime there).

import * as catalog from "../catalog.js";
import { field, h, mount, notice } from "../dom.js";

export async function render(main, _params, query) {
  const [theaters, cities] = await Promise.all([catalog.theaters(), catalog.cities()]);
  let city = query.get("city") ?? catalog.preferredCity();
  if (city && !cities.includes(city)) city = "";
  const citySelect = h(
    "select",
    { name: "city" },
    h("option", { value: "" }, "All cities"),
    cities.map((c) => h("option", { value: c, selected: c === city }, c)),
  );
  const list = h("section", {});
  mount(main, h("h1", {}, "Theaters"), h("div", { class: "toolbar" }, field("City", citySelect)), list);

  function draw() {
    const shown = theaters.filter((t) => !city || t.city === city);
    if (!shown.length) {
      mount(list, notice("No theaters here yet.", "info"));
      return;
    }
    mount(
      list,
      h(
        "ul",
        { class: "theater-list" },
        shown.map((t) =>
          h(
            "li",
            { class: "theater-card" },
            h(
              "div",
              {},
              h("h2", {}, h("a", { href: `/app/theaters/${t.id}`, "data-link": true }, t.name)),
              h("p", { class: "muted" }, `${t.address} · ${t.city}`),
            ),
          ),
        ),
      ),
    );
  }
  citySelect.addEventListener("change", () => {
    city = citySelect.value;
    catalog.setPreferredCity(city);
    draw();
  });
  draw();
}
