// Small DOM and formatting helpers shared by every view: an element builder, money and time formats,
// screen-reader announcements and toasts. No framework: views build elements with h() and replace them.

/**
 * Build an element. attrs: class, text, on<Event> handlers (functions), dataset (object), aria-* and
 * any other attribute (true → present, false/null/undefined → absent). Children: nodes, strings, arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && !svg) el.value = value;
    else if (key === "checked" && !svg) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const money = new Intl.NumberFormat("en-IN", {
  style: "currency",
  currency: "INR",
  minimumFractionDigits: 0,
  maximumFractionDigits: 2,
});

/** ₹400, ₹1,250.50 */
export function formatMoney(amount) {
  return money.format(Number(amount || 0));
}

const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const longFormat = new Intl.DateTimeFormat(undefined, {
  weekday: "long",
  day: "numeric",
  month: "long",
  hour: "2-digit",
  minute: "2-digit",
});

export const formatDay = (iso) => dayFormat.format(new Date(iso));
export const formatTime = (iso) => timeFormat.format(new Date(iso));
export const formatDateTime = (iso) => longFormat.format(new Date(iso));

/** The local calendar day of a timestamp, as YYYY-MM-DD. */
export function localDay(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** 9:05 from a number of seconds. */
export function formatCountdown(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Say something to screen-reader users at once (an assertive live region). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node in a later frame, so the same words twice are announced twice.
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** A short message in the corner (and to screen readers, politely). kind: info, success, error. */
export function toast(message, kind = "info", ms = 6000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), ms);
}

/**
 * A notice block: kind info, success, warning, error. On its own, errors and warnings are alerts and the
 * rest status messages; inside a messageArea() (which is the live region) it carries no role of its own.
 */
export function notice(message, kind = "info", { live = true } = {}) {
  const role = !live ? null : kind === "error" || kind === "warning" ? "alert" : "status";
  return h("div", { class: `notice ${kind}`, role }, message);
}

/**
 * A place for a view's messages: one live region that stays in the page, assertive for errors and
 * warnings, polite otherwise, so each message is read out once. Returns {el, say(text, kind), clear()}.
 */
export function messageArea(className = "messages") {
  const el = h("div", { class: className, "aria-live": "polite" });
  return {
    el,
    say(text, kind = "info") {
      el.setAttribute("aria-live", kind === "error" || kind === "warning" ? "assertive" : "polite");
      mount(el, notice(text, kind, { live: false }));
    },
    clear: () => mount(el),
  };
}

/**
 * A form's submit handler: the page stays, `messages` (a messageArea) is cleared and `work(event)` runs;
 * what it throws is said in `messages` as an error.
 */
export function onSubmit(messages, work) {
  return async (event) => {
    event.preventDefault();
    messages.clear();
    try {
      await work(event);
    } catch (error) {
      messages.say(error.message || String(error), "error");
    }
  };
}

/** A panel: a <section> named by its <h2> title (which gets the id `titleId`), then `children`. */
export function panel(titleId, title, ...children) {
  return h("section", { class: "panel", "aria-labelledby": titleId }, h("h2", { id: titleId }, title), children);
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const hintEl = hint ? h("small", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
}

export function spinner(label = "Loading…") {
  return h("p", { class: "loading", role: "status" }, label);
}

/** An id for Idempotency-Key headers. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Busy state for a button while `work` runs; the button says `busyText` meanwhile. */
export async function busy(button, busyText, work) {
  const before = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = before;
  }
}

/** A modal yes/no question; resolves true when confirmed. (A real dialog, not window.confirm.) */
export function confirmDialog(question, { confirmLabel = "Yes", cancelLabel = "No", danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "confirm-text" });
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary" }, confirmLabel);
    const no = h("button", { type: "button", class: "secondary" }, cancelLabel);
    yes.addEventListener("click", () => {
      dialog.returnValue = "yes";
      dialog.close();
    });
    no.addEventListener("click", () => dialog.close());
    dialog.append(
      h("p", { id: "confirm-text", class: "dialog-question" }, question),
      h("div", { class: "row-buttons" }, yes, no),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
