// The browser-side router: /app/... paths map to views, loaded on first use. A view is a module whose
// render(main, params, query) draws into <main> and may return a cleanup function (close streams, stop
// timers), called before the next view draws. Links to /app/ are followed without a page load.

import { h, mount, notice } from "./dom.js";

const routes = [];
let cleanup = null;
let renderToken = 0;

/** Register a view: a pattern like "/app/shows/:id" and a function that imports its module. */
export function route(pattern, load, options = {}) {
  const names = [];
  const regex = new RegExp(
    "^" +
      pattern.replace(/\/:([a-z_]+)/g, (_, name) => {
        names.push(name);
        return "/([^/]+)";
      }) +
      "/?$",
  );
  routes.push({ regex, names, load, ...options });
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  return render();
}

/** Draw the view of the current URL. */
export async function render() {
  const token = ++renderToken;
  const main = document.getElementById("main");
  if (cleanup) {
    try {
      cleanup();
    } catch (error) {
      console.error(error);
    }
    cleanup = null;
  }
  const { pathname, search } = window.location;
  const query = new URLSearchParams(search);
  window.dispatchEvent(new CustomEvent("navigated", { detail: { pathname } }));
  for (const r of routes) {
    const match = r.regex.exec(pathname);
    if (!match) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(match[i + 1])]));
    try {
      const view = await r.load();
      if (token !== renderToken) return;
      main.replaceChildren();
      window.scrollTo(0, 0);
      const result = await view.render(main, params, query);
      if (token !== renderToken) {
        if (typeof result === "function") result();
        return;
      }
      cleanup = typeof result === "function" ? result : null;
    } catch (error) {
      console.error(error);
      if (token !== renderToken) return;
      mount(
        main,
        h("h1", {}, error?.status === 404 ? "Not found" : "Something went wrong"),
        notice(error?.message || "This page could not be shown. Please reload.", "error"),
        h("p", {}, h("a", { href: "/app/", "data-link": true }, "Back to movies")),
      );
    }
    focusMain(main);
    return;
  }
  mount(
    main,
    h("h1", {}, "Page not found"),
    h("p", {}, "There is no page at this address. "),
    h("p", {}, h("a", { href: "/app/", "data-link": true }, "Browse movies")),
  );
  focusMain(main);
}

function focusMain(main) {
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · Seatwise`;
  // Move focus to the new content only after a navigation the person started, not on first load.
  if (document.documentElement.dataset.navigated) main.focus({ preventScroll: true });
}

export function startRouter() {
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const link = event.target.closest("a[href]");
    if (!link || link.target || link.hasAttribute("download")) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin || !url.pathname.startsWith("/app")) return;
    if (url.pathname.startsWith("/app/assets/")) return;
    event.preventDefault();
    document.documentElement.dataset.navigated = "1";
    navigate(url.pathname + url.search);
  });
  window.addEventListener("popstate", () => {
    document.documentElement.dataset.navigated = "1";
    render();
  });
  return render();
}
