// A show's waiting room (docs/waiting-room.md), at /app/shows/:id/queue. Opening the page joins the queue
// (POST …/queue: joining again, from any device, keeps the same place); the entry is then followed live over
// GET …/queue/events (`entry` events, the token in ?access_token= since EventSource cannot send headers),
// or read with a GET every 5 s once the stream fails. It says the place, the people ahead, the admission
// rate, the wait and the chance of a ticket; then the turn (with its countdown and the way to the seat
// map), a sell-out or a closed room. "How the order is decided" shows the fairness record and the command
// that checks it. Changes that matter are read out once from one polite live region; the rest is text, so
// nothing depends on colour.

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import {
  formatCountdown,
  formatDateTime,
  formatTime,
  h,
  messageArea,
  mount,
  notice,
  plural,
  spinner,
} from "../dom.js";
import { navigate } from "../router.js";

const POLL_MS = 5000;
const RETRY_JOIN_MS = 5000;

export async function render(main, { id }) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent(window.location.pathname)}`, { replace: true });
    return;
  }
  const { show, movie, theater } = await catalog.showDetails(id);
  const seatMapPath = `/app/shows/${id}`;
  const title = h("h1", {}, `Waiting room: ${movie.title}`);
  const where = h("p", { class: "muted" }, `${theater.name}, ${theater.city} · ${formatDateTime(show.starts_at)}`);
  if (!show.waiting_room) {
    mount(
      main,
      title,
      where,
      notice("This show has no waiting room: everyone can choose seats at once.", "info"),
      h("p", {}, h("a", { href: seatMapPath, "data-link": true }, "Choose your seats")),
    );
    return;
  }

  let entry = null;
  let source = null; // the entry's stream, while it lasts
  let timer = null; // one thing to do later: the next join attempt, the next read, the end of a turn
  let stopped = false;

  const area = messageArea();
  const badge = h("span", { class: "live-badge is-connecting" }, "Connecting…");
  const heading = h("h2", { id: "queue-state" }, "Joining the queue…");
  // The one live region for the entry: its sentence changes only when something that matters does.
  const summary = h("p", { class: "queue-summary", "aria-live": "polite" });
  const body = h("div", {});
  const statusBox = h(
    "section",
    { class: "panel queue-status", "aria-labelledby": "queue-state" },
    heading,
    summary,
    body,
  );
  const fairBox = h("div", {});
  const fairness = h(
    "details",
    { class: "panel fairness", ontoggle: () => fairness.open && drawFairness() },
    h("summary", {}, "How the order is decided"),
    fairBox,
  );
  mount(main, h("div", { class: "show-head" }, h("div", {}, title, where), badge), area.el, statusBox, fairness);

  await join();
  const ticker = setInterval(tick, 1000);

  // -- the entry ----------------------------------------------------------------------------------------

  async function join() {
    let joined;
    try {
      joined = await api(`shows/${id}/queue`, { method: "POST" });
    } catch (error) {
      if (stopped) return;
      if (!retryable(error)) {
        area.say(error.message, "error");
        return;
      }
      // A crowd at the opening may find the service busy: keep trying, and say so.
      area.say(`${error.message} We keep trying to get you a place.`, "warning");
      setBadge("reconnecting", "Retrying…");
      later(join, (error.retryAfter || 0) * 1000 || RETRY_JOIN_MS);
      return;
    }
    area.clear();
    update(joined);
    follow();
  }

  function follow() {
    if (stopped || !waiting()) return;
    const token = encodeURIComponent(session.token || "");
    source = new EventSource(`/api/v1/shows/${encodeURIComponent(id)}/queue/events?access_token=${token}`);
    source.addEventListener("open", () => setBadge("live", "Live"));
    source.addEventListener("entry", (message) => {
      try {
        update(JSON.parse(message.data));
      } catch (error) {
        console.error(error);
      }
    });
    source.addEventListener("error", () => {
      // The stream failed (or a proxy cut it): read the entry every few seconds instead.
      stopStream();
      if (stopped || !waiting()) return;
      setBadge("reconnecting", "Updating every 5 s");
      later(refresh, POLL_MS);
    });
  }

  /** Read the entry once; while it waits (the stream having failed), again in a few seconds. */
  async function refresh() {
    try {
      update(await api(`shows/${id}/queue`));
      if (waiting()) setBadge("reconnecting", "Updating every 5 s");
    } catch (error) {
      setBadge("reconnecting", "Offline, retrying");
      if (error.status === 401) area.say(error.message, "error");
      if (entry.state === "admitted") later(refresh, POLL_MS);
    }
    if (waiting()) later(refresh, POLL_MS);
  }

  function later(work, ms) {
    clearTimeout(timer);
    timer = stopped ? null : setTimeout(work, ms);
  }

  function stopStream() {
    if (source) source.close();
    source = null;
  }

  function waiting() {
    return entry?.state === "waiting";
  }

  function update(next) {
    entry = next;
    if (!waiting()) {
      // The server sends a final entry once and ends the stream; nothing more will come.
      stopStream();
      badge.hidden = true;
      clearTimeout(timer);
    }
    // When the turn ends, the room says whether it lapsed (its clock, not this one, decides).
    if (entry.state === "admitted") later(refresh, Math.max(0, secondsLeft()) * 1000 + 1000);
    draw();
  }

  function setBadge(status, text) {
    badge.hidden = false;
    badge.className = `live-badge is-${status}`;
    badge.textContent = text;
  }

  function tick() {
    const countdown = body.querySelector("[data-countdown]");
    if (entry?.state !== "admitted" || !countdown) return;
    const left = secondsLeft();
    countdown.textContent = formatCountdown(left);
    countdown.classList.toggle("urgent", left <= 60);
  }

  function secondsLeft() {
    return (Date.parse(entry.admission_expires_at) - Date.now()) / 1000;
  }

  // -- drawing ------------------------------------------------------------------------------------------

  function draw() {
    const view = STATES[entry.state] || STATES.closed;
    heading.textContent = view.title;
    statusBox.dataset.state = entry.state;
    const sentence = view.sentence(entry);
    if (summary.textContent !== sentence) summary.textContent = sentence;
    mount(body, view.body(entry, seatMapPath, secondsLeft));
  }

  async function drawFairness() {
    mount(fairBox, spinner());
    try {
      const record = await api(`shows/${id}/queue/fairness`, { auth: false });
      mount(fairBox, fairnessRecord(record, id, entry));
    } catch (error) {
      mount(fairBox, notice(error.message, "error"));
    }
  }

  return () => {
    stopped = true;
    stopStream();
    clearTimeout(timer);
    clearInterval(ticker);
  };
}

/** A busy or unreachable service: worth asking again. */
const retryable = (error) => error.status === 0 || error.status === 429 || error.status >= 500;

// -- words for each state ---------------------------------------------------------------------------------

function aheadWords(ahead) {
  if (ahead === 0) return "Nobody is ahead of you";
  return `${plural(ahead, "person", "people")} ${ahead === 1 ? "is" : "are"} ahead of you`;
}

function waitWords(entry) {
  if (entry.number === null) return `Counted when sales open at ${formatTime(entry.opens_at)}`;
  const seconds = entry.estimated_wait_seconds;
  if (seconds === null) return "Waiting for the queue to move";
  if (seconds < 60) return seconds <= 0 ? "Your turn is next" : "Under a minute";
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `About ${plural(minutes, "minute")}` : `About ${plural(Math.round(minutes / 60), "hour")}`;
}

function chanceWords(chance) {
  if (chance === null) return "Worked out when sales open";
  const percent = Math.round(chance * 100);
  if (percent === 100 && chance < 1) return "99%";
  if (percent === 0 && chance > 0) return "Under 1%";
  return `${percent}%`;
}

const rateWords = (perMinute) => Number(perMinute).toLocaleString(undefined, { maximumFractionDigits: 1 });

/** Label and value pairs, each in its own box (a grid that becomes one column on a phone). */
function figures(pairs) {
  return h(
    "dl",
    { class: "queue-figures" },
    pairs.map(([label, value]) => h("div", { class: "queue-figure" }, h("dt", {}, label), h("dd", {}, value))),
  );
}

const CLOSED_REASONS = {
  "admission-lapsed":
    "Your turn ended before you held any seats, so your share went back to the people still waiting.",
  "sales-over": "Sales for this show are over.",
};

const STATES = {
  waiting: {
    title: "You're in the queue",
    sentence: (e) =>
      e.number === null
        ? `You have a place in the queue. You will be numbered when sales open at ${formatDateTime(e.opens_at)}.`
        : `You are number ${e.number} in the queue. ${aheadWords(e.ahead)}.`,
    body: (e) => [
      figures([
        ["Your number", e.number === null ? `Numbered when sales open at ${formatDateTime(e.opens_at)}` : `${e.number}`],
        ["People ahead of you", e.ahead === null ? "Counted when sales open" : `${e.ahead}`],
        ["Admitted per minute", rateWords(e.admissions_per_minute)],
        ["Estimated wait", waitWords(e)],
        ["Chance of a ticket", chanceWords(e.chance_of_ticket)],
      ]),
      h(
        "p",
        { class: "hint" },
        "Your place is kept if you close this page or switch devices: open it again to see where you are. ",
        "People are let in as the seats left can serve them, in number order.",
      ),
    ],
  },
  admitted: {
    title: "It's your turn",
    sentence: (e) => `It's your turn. Choose your seats before ${formatTime(e.admission_expires_at)}.`,
    body: (e, seatMapPath, secondsLeft) => [
      h(
        "p",
        { class: "countdown-line" },
        "Time left to hold seats: ",
        h(
          "strong",
          { class: "countdown", role: "timer", "aria-live": "off", "data-countdown": true },
          formatCountdown(secondsLeft()),
        ),
      ),
      h(
        "p",
        {},
        h("a", { href: seatMapPath, class: "button-link primary", "data-link": true }, "Choose your seats"),
      ),
      h(
        "p",
        { class: "hint" },
        `Hold seats before ${formatTime(e.admission_expires_at)}; after that your turn passes to the next person.`,
      ),
    ],
  },
  sold_out: {
    title: "Sold out",
    sentence: () => "Sold out: every seat of this show has been sold.",
    body: (e) => [
      h("p", {}, `Sorry, every seat was sold before your turn came${e.number ? ` (you were number ${e.number})` : ""}.`),
      waitingListOffer(e.show_id),
      h("p", {}, h("a", { href: "/app/", "data-link": true }, "Find another show")),
    ],
  },
  closed: {
    title: "Closed",
    sentence: (e) => `Closed: ${CLOSED_REASONS[e.closed_reason] || "this waiting room is closed."}`,
    body: (e) => [
      h("p", {}, CLOSED_REASONS[e.closed_reason] || "This waiting room is closed."),
      h("p", {}, h("a", { href: "/app/", "data-link": true }, "Find another show")),
    ],
  },
};

/** One click onto the show's waiting list: seats that come back are offered in order, as a hold of one's own. */
function waitingListOffer(showId) {
  const said = h("p", { "aria-live": "polite" });
  const seats = h("input", { type: "number", min: "1", max: "20", value: "2", id: "waiting-list-seats", class: "narrow" });
  const button = h("button", { type: "button", class: "primary" }, "Join the waiting list");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const place = await api(`shows/${showId}/waiting-list`, { method: "POST", json: { seats: Number(seats.value) || 2 } });
      said.textContent =
        `You're on the waiting list for ${place.seats} seat${place.seats === 1 ? "" : "s"}` +
        (place.ahead ? `, ${place.ahead} ahead of you.` : ", first in line.") +
        " If seats come back they are held for you, and we e-mail you.";
    } catch (error) {
      said.textContent = error.message;
      button.disabled = false;
    }
  });
  return h(
    "div",
    { class: "waiting-list" },
    h("p", {}, "Seats sometimes come back (a cancellation, an unpaid hold). Join the waiting list to be offered them in turn."),
    h("p", {}, h("label", { for: "waiting-list-seats" }, "Seats wanted together: "), seats, " ", button),
    said,
  );
}

// -- fairness -------------------------------------------------------------------------------------------------

function fairnessRecord(record, showId, entry) {
  const opened = record.seed !== null;
  const command = `python -m waiting_room.verify --base-url ${window.location.origin} --show ${showId}`;
  const code = (text) => h("code", { class: "mono" }, text);
  return [
    h(
      "p",
      {},
      "Nobody chooses who goes first. When the show was created, Seatwise drew a secret random seed and published ",
      "its fingerprint (the commitment below). When sales open, the seed is revealed and everyone who joined ",
      "before then is numbered in the order of sha256(seed:entry id); people who join later follow in the order ",
      "they joined.",
    ),
    figures([
      ["Commitment, sha256 of the seed", code(record.commitment)],
      ["Sales open", formatDateTime(record.opens_at)],
      ...(opened
        ? [
            ["Seed", code(record.seed)],
            ["Merkle root of the early joiners", code(record.merkle_root)],
            ["Early joiners", `${record.pre_queue_size}`],
          ]
        : [["Seed", "Revealed when sales open"]]),
      ...(entry ? [["Your entry id", code(entry.entry_id)]] : []),
    ]),
    h("p", {}, "Check it yourself, no account needed:"),
    h("pre", { class: "payload" }, code(command)),
    h("p", { class: "hint" }, "Add --entry and your entry id to check your own place as well."),
  ];
}
