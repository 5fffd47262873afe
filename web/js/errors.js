// Turns the API's problem+json answers (RFC 9457: type, title, status, detail) into words people
// understand. The `type` ends in a stable code (…/problems/seats-unavailable); the status is the fallback.
// Raw JSON never reaches the page: every failure the app shows goes through explain().

const BY_CODE = {
  "seats-unavailable": (p) =>
    p.seats && p.seats.length
      ? `${list(p.seats)} ${p.seats.length === 1 ? "was" : "were"} just taken by someone else. Please pick other seats.`
      : "Those seats were just taken by someone else. Please pick other seats.",
  "no-adjacent-seats": () =>
    "There aren't that many seats together in that category any more. Try fewer seats or another category.",
  "seat-limit-exceeded": () =>
    "That is more seats than one account may hold or book for a show. Pay for the seats you hold first, or choose fewer.",
  "hold-expired": () => "Your hold expired and the seats went back on sale. Please pick your seats again.",
  "hold-not-found": () => "You have no seats held for this show any more. Please pick your seats again.",
  "payment-declined": () =>
    "Your card was declined and nothing was charged. Your seats are still held: try another card.",
  "payment-in-progress": () => "Your payment is still being processed. Please wait a moment.",
  "extension-refused": () => "This hold cannot be extended any further.",
  "sales-closed": () => "Sales for this show have closed.",
  "cancellation-closed": (p) => `This booking can no longer be cancelled: ${p.detail}.`,
  "booking-not-found": () => "We couldn't find that booking in your account.",
  "unknown-show": () => "That show doesn't exist (any more).",
  "unknown-seats": (p) => (p.seats ? `There is no seat ${list(p.seats)} in this show.` : "There is no such seat."),
  "email-taken": () => "An account with this e-mail address already exists. Sign in instead.",
  "network-blocked": () => "Requests from your network are blocked. Contact the cinema if this is a mistake.",
  "missing-prices": (p) => `Please give a price for every seat category: ${p.detail.replace(/^.*: /, "")}.`,
  "show-in-past": () => "A show must start in the future.",
  "duplicate-rows": () => "Each row needs its own label.",
  "notifications-unavailable": () => "Notifications are not running on this server.",
  "redis-unavailable": () => "The notification queue is not reachable right now. Try again in a few seconds.",
  "unknown-dead-letter": () => "That dead letter is gone: it was replayed or removed already.",
};

const BY_STATUS = {
  0: () => OFFLINE_MESSAGE, // no answer at all (api.js gives such failures status 0)
  400: (p) => `That request was not understood: ${p.detail}`,
  401: () => "Please sign in (again) to continue.",
  402: () => "The payment was declined and nothing was charged.",
  403: () => "Your account is not allowed to do that.",
  404: () => "We couldn't find that. It may have been removed.",
  409: (p) => `That can't be done right now: ${p.detail}.`,
  410: () => "That has expired.",
  422: (p) => `Please check the form: ${friendlyValidation(p)}`,
  429: (p) =>
    `Lots of people are booking right now. Please wait ${p.retryAfter ? `${p.retryAfter} seconds` : "a moment"} and try again.`,
  500: () => "Something went wrong on our side. Please try again; if it keeps happening, contact the cinema.",
  503: (p) =>
    `The service is busy right now. Please try again in ${p.retryAfter ? `${p.retryAfter} seconds` : "a few seconds"}.`,
};

function list(items) {
  const names = items.map(String);
  if (names.length <= 1) return `Seat ${names[0] || ""}`.trim();
  return `Seats ${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function friendlyValidation(p) {
  if (Array.isArray(p.errors) && p.errors.length) {
    return p.errors
      .slice(0, 3)
      .map((e) => {
        const where = (e.loc || []).filter((part) => part !== "body" && part !== "query").join(" ");
        return where ? `${where.replaceAll("_", " ")}: ${e.msg}` : e.msg;
      })
      .join("; ");
  }
  return p.detail || "a value is not valid";
}

/** The code at the end of a problem's `type` URI. */
export function problemCode(problem) {
  return String(problem.type || "")
    .split("/")
    .pop();
}

/**
 * Words for a problem. `context` may override per code or status for one place in the app, e.g.
 * {503: "…your seats are still held…"}.
 */
export function explain(problem, context = {}) {
  const code = problemCode(problem);
  const custom = context[code] ?? context[problem.status];
  if (custom) return typeof custom === "function" ? custom(problem) : custom;
  const byCode = BY_CODE[code];
  if (byCode) return byCode(problem);
  const byStatus = BY_STATUS[problem.status] || (problem.status >= 500 ? BY_STATUS[500] : BY_STATUS[400]);
  return byStatus(problem);
}

export const OFFLINE_MESSAGE = "Seatwise can't be reached. Check your connection and try again.";
