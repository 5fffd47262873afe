// Entry point: the routes, the main menu (which depends on who is signed in), and a last line of
// defence that turns any unexpected failure into words on the page.

import { session, signOut } from "./api.js";
import { h, mount, toast } from "./dom.js";
import { navigate, render, route, startRouter } from "./router.js";

route("/app", () => import("./views/home.js"));
route("/app/movies/:id", () => import("./views/movie.js"));
route("/app/theaters", () => import("./views/theaters.js"));
route("/app/theaters/:id", () => import("./views/theater.js"));
route("/app/shows/:id", () => import("./views/show.js"));
route("/app/shows/:id/queue", () => import("./views/queue.js"));
route("/app/signin", () => import("./views/signin.js"));
route("/app/bookings", () => import("./views/bookings.js"));
route("/app/bookings/:id", () => import("./views/ticket.js"));
route("/app/box-office", () => import("./views/boxoffice.js"));
route("/app/gate", () => import("./views/gate.js"));
route("/app/admin", () => import("./views/admin.js"));
route("/app/admin/shows/:id", () => import("./views/admin-show.js"));
route("/app/admin/shows/:id/door", () => import("./views/admin-door.js"));
route("/app/admin/:tab", () => import("./views/admin.js"));

function drawNav() {
  const nav = document.getElementById("nav");
  const path = window.location.pathname;
  const link = (href, label, match) =>
    h("a", { href, "data-link": true, "aria-current": match(path) ? "page" : null }, label);
  const items = [
    link("/app/", "Movies", (p) => p === "/app" || p === "/app/" || p.startsWith("/app/movies")),
    link("/app/theaters", "Theaters", (p) => p.startsWith("/app/theaters")),
  ];
  const role = session.signedIn() ? session.role : null;
  if (role) items.push(link("/app/bookings", "My bookings", (p) => p.startsWith("/app/bookings")));
  if (role === "box_office" || role === "admin") {
    items.push(link("/app/box-office", "Box office", (p) => p.startsWith("/app/box-office")));
  }
  if (role === "gate" || role === "admin") items.push(link("/app/gate", "Gate", (p) => p.startsWith("/app/gate")));
  if (role === "admin") items.push(link("/app/admin", "Admin", (p) => p.startsWith("/app/admin")));
  if (role) {
    const account = session.account;
    items.push(
      h(
        "span",
        { class: "nav-account" },
        h("span", { class: "nav-email", title: account.email }, account.name || account.email),
        h(
          "button",
          {
            type: "button",
            class: "link-button",
            onclick: () => {
              signOut();
              toast("You are signed out.");
              navigate("/app/");
            },
          },
          "Sign out",
        ),
      ),
    );
  } else {
    const next = encodeURIComponent(path + window.location.search);
    items.push(link(`/app/signin?next=${next}`, "Sign in", (p) => p.startsWith("/app/signin")));
  }
  mount(nav, items);
}

window.addEventListener("navigated", drawNav);
window.addEventListener("session", () => {
  drawNav();
  // A view that depends on the account (bookings, admin, a place in a queue) redraws; others keep their state.
  if (/^\/app\/(bookings|admin|box-office|gate|shows\/[^/]+\/queue)/.test(window.location.pathname)) render();
});

window.addEventListener("unhandledrejection", (event) => {
  console.error(event.reason);
  toast(event.reason?.message || "Something went wrong. Please try again.", "error");
});
window.addEventListener("error", (event) => {
  console.error(event.error || event.message);
});

startRouter().finally(() => {
  document.documentElement.dataset.app = "ready";
});
