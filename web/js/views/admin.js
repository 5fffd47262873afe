// The admin dashboard: a tab per job. Each tab is drawn by a panel module; only admins get past the
// door (the API refuses everyone else with 403 anyway).

import { session } from "../api.js";
import { h, mount, notice } from "../dom.js";
import { navigate } from "../router.js";

const TABS = [
  ["shows", "Shows", () => import("./admin-catalog.js").then((m) => m.showsPanel)],
  ["movies", "Movies", () => import("./admin-catalog.js").then((m) => m.moviesPanel)],
  ["theaters", "Theaters & screens", () => import("./admin-catalog.js").then((m) => m.theatersPanel)],
  ["door", "Door", () => import("./admin-door.js").then((m) => m.doorPanel)],
  ["reports", "Sales & occupancy", () => import("./admin-reports.js").then((m) => m.reportsPanel)],
  ["dead-letters", "Dead letters", () => import("./admin-ops.js").then((m) => m.deadLettersPanel)],
  ["staff", "Staff accounts", () => import("./admin-ops.js").then((m) => m.staffPanel)],
];

export async function render(main, params, query) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent(window.location.pathname)}`, { replace: true });
    return;
  }
  if (session.role !== "admin") {
    mount(
      main,
      h("h1", {}, "Admin"),
      notice("This page is for administrators. Your account is not an admin account.", "error"),
    );
    return;
  }
  const tab = TABS.find(([key]) => key === (params.tab || "shows"));
  if (!tab) {
    mount(main, h("h1", {}, "Admin"), notice("There is no such admin page.", "error"));
    return;
  }
  const panel = h("section", { class: "admin-panel", "aria-labelledby": "admin-tab-title" });
  mount(
    main,
    h("h1", {}, "Admin"),
    h(
      "nav",
      { class: "subnav", "aria-label": "Admin sections" },
      TABS.map(([key, label]) =>
        h("a", { href: `/app/admin/${key}`, "data-link": true, "aria-current": key === tab[0] ? "page" : null }, label),
      ),
    ),
    panel,
  );
  const draw = await tab[2]();
  return draw(panel, query);
}
