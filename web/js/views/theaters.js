// Theaters: choose a city, then a theater (its page lists every showtime there).

import * as catalog from "../catalog.js";
import { field, h, mount, notice } from "../dom.js";

export async function render(main, _params, query) {
  const [theaters, citySelect] = await Promise.all([catalog.theaters(), catalog.citySelect(query)]);
  let city = citySelect.value;
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
