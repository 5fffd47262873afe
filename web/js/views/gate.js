// The gate page (/app/gate, gate and admin accounts): a door steward picks the show and names the gate,
// prepares for doors (the manifest is kept on the device), then scans tickets with the camera or types or
// pastes a code. The answer fills the screen: ADMIT (green, holder and seats), ALREADY IN (amber, when and
// at which gate), INVALID or REFUSED (red, why). Without network the gate decides from the manifest,
// queues its admits and syncs them when the network returns; conflicts the service reports are listed.
// Everything it needs is loaded with the page, so it keeps working if the network goes (docs/gate.md).

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import { announce, busy, field, formatTime, h, localDay, messageArea, mount, notice, panel, plural } from "../dom.js";
import { loadJsQR, readerName, startCamera } from "../gate/camera.js";
import { Door } from "../gate/door.js";
import { settings } from "../gate/store.js";
import { navigate } from "../router.js";

const SAME_CODE_PAUSE_MS = 3000; // a code still in front of the camera is not scanned again at once
const SYNC_EVERY_MS = 10_000;
const MANIFEST_EVERY_MS = 120_000; // tickets sold and entries at other gates since the last download
const RECENT = 8;

const HEADLINES = {
  admitted: "ADMIT",
  already_admitted: "ALREADY IN",
  invalid: "INVALID",
  refused: "REFUSED",
  exited: "EXITED",
  unchecked: "CANNOT CHECK",
};
const TONES = { admitted: "admit", already_admitted: "already", exited: "already" };

const REASONS = {
  malformed: "Not a Seatwise ticket code.",
  unknown_key: "Signed with a key this service does not know, or one that has retired.",
  bad_signature: "Forged or altered: the signature does not match.",
  other_show: "A ticket for another show.",
  code_required: "A copy of the ticket's data, not the live ticket: ask to see the ticket page.",
  expired_code: "The live code has expired (a screenshot?): ask to see the ticket page itself.",
};

const reasonText = (reason) => REASONS[reason] || (reason ? reason[0].toUpperCase() + reason.slice(1) + "." : "");
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export async function render(main, _params, query) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent("/app/gate" + window.location.search)}`, { replace: true });
    return;
  }
  if (session.role !== "gate" && session.role !== "admin") {
    mount(
      main,
      h("h1", {}, "Gate"),
      notice("This page is for door staff. Your account is not a gate account.", "error"),
    );
    return;
  }
  const saved = settings.get();
  let showId = query.get("show") || saved.showId || "";
  let door = null;
  let camera = null;
  let lastCode = { text: null, until: 0 };
  let scanning = false;
  const recent = [];
  const timers = [];

  const area = messageArea();
  const setup = h("section", { class: "gate-setup panel", "aria-labelledby": "gate-setup-title" });
  const result = h("div", { class: "gate-result is-idle" }); // read out through announce(), once
  const status = h("p", { class: "gate-status", role: "status" });
  const video = h("video", { class: "gate-video", muted: true, playsinline: true, "aria-label": "Camera" });
  const cameraButton = h("button", { type: "button", class: "primary" }, "Start camera");
  const cameraNote = h("p", { class: "hint" });
  const codeInput = h("input", { type: "text", name: "code", autocomplete: "off", spellcheck: "false" });
  const direction = h(
    "select",
    { name: "direction" },
    h("option", { value: "in" }, "Entry"),
    h("option", { value: "out" }, "Exit (re-entry allowed)"),
  );
  const directionField = h("div", { class: "gate-direction", hidden: true }, field("Scanning", direction));
  const manual = h(
    "form",
    { class: "gate-manual inline-form" },
    field("Ticket code", codeInput, "Type or paste the code (a hand scanner that types works too)."),
    h("button", { type: "submit", class: "secondary" }, "Check"),
  );
  const conflicts = h("div", { class: "gate-conflicts" });
  const log = h("ol", { class: "gate-log", "aria-label": "Recent scans" });
  const scanner = h(
    "section",
    { class: "gate-scanner panel", "aria-labelledby": "gate-scan-title", hidden: true },
    h("h2", { id: "gate-scan-title" }, "Scan"),
    status,
    result,
    directionField,
    h("div", { class: "gate-camera" }, video, h("div", { class: "row-buttons" }, cameraButton), cameraNote),
    manual,
    conflicts,
    h("h3", {}, "Recent scans"),
    log,
  );
  mount(main, h("h1", {}, "Gate"), area.el, h("div", { class: "gate-layout" }, scanner, setup));

  manual.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = codeInput.value.trim();
    if (!text) return;
    codeInput.value = "";
    check(text);
  });
  cameraButton.addEventListener("click", () => (camera ? stopCamera() : openCamera()));
  const onOnline = () => (drawStatus(), syncNow());
  const onOffline = () => drawStatus();
  window.addEventListener("online", onOnline);
  window.addEventListener("offline", onOffline);
  timers.push(setInterval(() => navigator.onLine && door?.pending && syncNow(), SYNC_EVERY_MS));
  timers.push(setInterval(() => navigator.onLine && door?.manifest && refreshManifest(), MANIFEST_EVERY_MS));

  await drawSetup();
  return () => {
    stopCamera();
    timers.forEach(clearInterval);
    window.removeEventListener("online", onOnline);
    window.removeEventListener("offline", onOffline);
  };

  // -- choosing the show and the gate ----------------------------------------------------------------

  async function drawSetup() {
    const theaters = await catalog.theaters();
    const current = showId ? await catalog.showDetails(showId).catch(() => null) : null;
    let theaterId = current?.show.theater_id || theaters[0]?.id || "";
    let day = current ? localDay(current.show.starts_at) : localDay(new Date().toISOString());
    const theaterSelect = h(
      "select",
      { name: "theater" },
      theaters.map((t) => h("option", { value: t.id, selected: t.id === theaterId }, `${t.name} (${t.city})`)),
    );
    const dayInput = h("input", { type: "date", name: "day", value: day });
    const shows = h("div", { class: "times", role: "list", "aria-label": "Shows" });
    const gateInput = h("input", {
      type: "text",
      name: "gate",
      maxlength: 50,
      required: true,
      value: query.get("gate") || saved.gate || "",
      placeholder: "e.g. North 3",
    });
    const chosen = h("div", { class: "gate-chosen" });
    mount(
      setup,
      h("h2", { id: "gate-setup-title" }, "Show and gate"),
      h("div", { class: "toolbar" }, field("Theater", theaterSelect), field("Day", dayInput), field("Gate", gateInput)),
      shows,
      chosen,
    );
    theaterSelect.addEventListener("change", () => ((theaterId = theaterSelect.value), listShows()));
    dayInput.addEventListener("change", () => ((day = dayInput.value), listShows()));
    gateInput.addEventListener("change", () => choose(showId));

    // Each listing is numbered: the answer for a theater or day chosen before never replaces the list of
    // the one chosen since.
    let listed = 0;
    async function listShows() {
      const mine = ++listed;
      let those;
      let movies;
      try {
        // Doors open around the start, when sales may have closed: every show of the theater, not those on sale.
        const all = theaterId ? await api("shows", { query: { theater_id: theaterId, limit: 1000 }, auth: false }) : [];
        those = all.filter((s) => localDay(s.starts_at) === day);
        movies = new Map(
          await Promise.all([...new Set(those.map((s) => s.movie_id))].map(async (m) => [m, await catalog.movie(m)])),
        );
      } catch (error) {
        if (mine === listed) mount(shows, notice(error.message, "error"));
        return;
      }
      if (mine !== listed) return;
      mount(
        shows,
        those.length
          ? those.map((s) =>
              h(
                "button",
                {
                  type: "button",
                  role: "listitem",
                  class: "showtime",
                  "aria-pressed": s.id === showId ? "true" : "false",
                  onclick: () => choose(s.id),
                },
                h("strong", {}, formatTime(s.starts_at)),
                h("small", {}, movies.get(s.movie_id).title),
              ),
            )
          : notice("No shows at this theater that day.", "info"),
      );
    }

    async function choose(id) {
      stopCamera();
      showId = id;
      const gate = gateInput.value.trim();
      settings.set({ showId, gate });
      const url = new URL(window.location.href);
      url.search = showId ? `?show=${encodeURIComponent(showId)}` : "";
      history.replaceState(null, "", url.pathname + url.search);
      for (const b of shows.querySelectorAll("button.showtime")) b.setAttribute("aria-pressed", "false");
      if (!showId) return;
      await listShows();
      if (!gate) {
        door = null;
        scanner.hidden = true;
        mount(chosen, notice("Name this gate (e.g. North 3): the door view counts entries per gate.", "info"));
        gateInput.focus();
        return;
      }
      door = new Door(showId, gate);
      await drawChosen(chosen);
      scanner.hidden = false;
      drawStatus();
      drawConflicts();
      if (navigator.onLine && door.pending) syncNow();
    }

    await listShows();
    if (showId) await choose(showId);
  }

  async function drawChosen(chosen) {
    const { show, movie, theater } = await catalog.showDetails(showId);
    const prepare = h("button", { type: "button", class: "primary" }, "Prepare for doors");
    const forget = h("button", { type: "button", class: "link-button" }, "Forget this show");
    const state = h("p", { class: "gate-manifest" });
    const drawState = () => {
      const m = door.manifest;
      directionField.hidden = !m?.reentry; // exit scans only where the show lets people back in
      if (!m) {
        mount(state, "Not prepared: without network this gate could not check tickets.");
        return;
      }
      const inside = m.tickets.filter((t) => t.in_at).length;
      mount(
        state,
        `Prepared ${clock(m.generated_at)}: ${plural(m.tickets.length, "ticket")} on the list, ${inside} in then. `,
        "Offline scanning is ready.",
      );
    };
    prepare.addEventListener("click", async () => {
      try {
        await busy(prepare, "Downloading…", async () => {
          await door.prepare();
          if ((await readerName()) === "jsQR") await loadJsQR(); // the camera must work offline too
        });
        drawState();
        area.say("Ready for doors: this gate can admit offline if the network goes.", "success");
      } catch (error) {
        area.say(error.message, "error");
      }
    });
    forget.addEventListener("click", () => {
      if (door.pending) {
        area.say(`${plural(door.pending, "scan")} still to sync: connect first, then forget the show.`, "warning");
        return;
      }
      door.store.forget();
      drawState();
      drawConflicts();
      area.say("This device no longer keeps this show's ticket list.", "info");
    });
    mount(
      chosen,
      h(
        "p",
        { class: "gate-show" },
        h("strong", {}, movie.title),
        ` · ${formatTime(show.starts_at)} · ${theater.name}`,
      ),
      state,
      h("div", { class: "row-buttons" }, prepare, forget),
    );
    drawState();
    chosen.refreshState = drawState;
  }

  async function refreshManifest() {
    try {
      await door.prepare();
      setup.querySelector(".gate-chosen")?.refreshState?.();
    } catch {
      // the last list stays; the next try is in two minutes
    }
  }

  // -- scanning ----------------------------------------------------------------------------------------

  async function openCamera() {
    try {
      camera = await busy(cameraButton, "Starting…", () => startCamera(video, onCameraCode));
      cameraButton.textContent = "Stop camera";
      video.classList.add("is-on");
      cameraNote.textContent = `Hold the ticket's QR code in front of the camera (read by ${camera.reader}).`;
    } catch (error) {
      camera = null;
      const words =
        error?.name === "NotAllowedError"
          ? "The camera is not allowed: allow it in the browser, or type the codes."
          : error?.name === "NotFoundError"
            ? "No camera found: type or paste the codes."
            : `The camera could not start (${error?.message || error}): type or paste the codes.`;
      cameraNote.textContent = words;
    }
  }

  function stopCamera() {
    if (!camera) return;
    camera.stop();
    camera = null;
    cameraButton.textContent = "Start camera";
    video.classList.remove("is-on");
    cameraNote.textContent = "";
  }

  function onCameraCode(text) {
    if (scanning || (text === lastCode.text && Date.now() < lastCode.until)) return;
    check(text);
  }

  async function check(code) {
    if (!door) return;
    scanning = true;
    try {
      const answer = await door.scan(code, directionField.hidden ? "in" : direction.value);
      drawResult(answer);
    } catch (error) {
      drawResult({ result: "unchecked", reason: error.message, seats: [], decidedBy: "service" });
    } finally {
      lastCode = { text: code, until: Date.now() + SAME_CODE_PAUSE_MS };
      scanning = false;
      drawStatus();
    }
  }

  function drawResult(a) {
    const tone = TONES[a.result] || "bad";
    const seats = a.seats?.length ? `${plural(a.seats.length, "seat")}: ${a.seats.join(", ")}` : null;
    const lines = [];
    if (a.result === "admitted") lines.push(a.holder, seats);
    else if (a.result === "already_admitted") {
      lines.push(`In since ${clock(a.at)} at ${a.gate}${a.offline ? " (an offline gate)" : ""}.`, a.holder, seats);
    } else lines.push(reasonText(a.reason), a.holder, seats);
    result.className = `gate-result is-${tone}`;
    result.dataset.result = a.result;
    mount(
      result,
      h("p", { class: "gate-headline" }, HEADLINES[a.result] || a.result.toUpperCase()),
      lines.filter(Boolean).map((line) => h("p", { class: "gate-line" }, line)),
      a.decidedBy === "this gate" ? h("p", { class: "gate-offline-mark" }, "Decided offline by this gate") : null,
    );
    status.scrollIntoView({ block: "nearest" }); // on a phone, typing may have scrolled the answer away
    result.scrollIntoView({ block: "nearest" });
    announce(`${HEADLINES[a.result] || a.result}. ${lines.filter(Boolean).join(". ")}`);
    navigator.vibrate?.(a.result === "admitted" ? 80 : [200, 100, 200]);
    recent.unshift(
      h(
        "li",
        { class: `is-${tone}` },
        h("span", { class: "mono" }, clock(new Date().toISOString())),
        ` ${HEADLINES[a.result] || a.result}`,
        a.holder ? ` · ${a.holder}` : "",
        a.seats?.length ? ` · ${a.seats.join(", ")}` : "",
        a.decidedBy === "this gate" ? " · offline" : "",
      ),
    );
    recent.length = Math.min(recent.length, RECENT);
    mount(log, recent);
  }

  // -- the network, the queue and conflicts --------------------------------------------------------------

  function drawStatus() {
    if (!door) return;
    const pending = door.pending;
    const online = navigator.onLine;
    status.className = `gate-status ${online ? "is-online" : "is-offline"}`;
    const words = online
      ? pending
        ? `Online — ${pending} to sync, sending…`
        : "Online — every scan is with the service"
      : `Offline — ${pending} to sync`;
    const button = pending
      ? h("button", { type: "button", class: "link-button", onclick: () => syncNow() }, "Sync now")
      : null;
    mount(status, h("span", {}, words), button);
  }

  async function syncNow() {
    if (!door?.pending) return;
    try {
      const done = await door.sync();
      if (done) {
        const found = done.conflicts.length;
        const rejected = done.rejected.length;
        area.say(
          `Synced ${plural(done.sent, "offline scan")}.` +
            (found ? ` ${plural(found, "conflict")}: already in elsewhere first (the admins see it).` : "") +
            (rejected
              ? ` The service refused ${plural(rejected, "of them", "of them")}: ` +
                done.rejected.map((r) => `${r.holder || r.booking_id || "a code"} (${reasonText(r.reason)})`).join("; ")
              : ""),
          found || rejected ? "warning" : "success",
        );
        drawConflicts();
      }
    } catch (error) {
      if (navigator.onLine) area.say(`The offline scans could not be sent yet: ${error.message}`, "warning");
    }
    drawStatus();
  }

  function drawConflicts() {
    const found = door ? door.store.conflicts() : [];
    mount(
      conflicts,
      found.length
        ? panel(
            "gate-conflicts-title",
            "Conflicts",
            h("p", { class: "hint" }, "Offline admits of tickets that had already gone in elsewhere."),
            h(
              "ul",
              {},
              found.map((c) =>
                h(
                  "li",
                  {},
                  `${c.holder || c.booking_id} (${(c.seats || []).join(", ")}): admitted here at ${clock(c.scanned_at)} `,
                  `offline, but in since ${clock(c.at)} at ${c.gate}.`,
                ),
              ),
            ),
          )
        : null,
    );
  }
}
