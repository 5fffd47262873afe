// The live seat map: an EventSource on /api/v1/shows/{id}/seats/stream (see api/routes/stream.py).
// `snapshot` replaces the whole map, `seats` carries the seats one committed change touched (each with a
// version that only grows), `resync` announces a snapshot, and, with a token, `hold` / `expired` follow
// the caller's own holds. EventSource reconnects by itself and resumes with Last-Event-ID. A venue's
// page follows one section at a time (`?section=112`: the snapshot and changes of that section only).
// followSeatMap() and liveSeatMap() keep a SeatMap (seatmap.js) up to date from it.

import { api, session } from "./api.js";

/**
 * Open the stream. handlers: snapshot(data), seats(data), hold(data), expired(data), status("live" |
 * "reconnecting" | "closed"). options: section (a venue's section code: that section's seats only).
 * Returns { close(), reopen() }; reopen() picks up a new token.
 */
export function openSeatStream(showId, handlers, { section } = {}) {
  let source = null;
  let closed = false;
  let retryTimer = null;
  let failures = 0;

  const call = (name, data) => {
    try {
      handlers[name]?.(data);
    } catch (error) {
      console.error(error);
    }
  };

  function connect() {
    if (closed) return;
    const token = session.token;
    const params = new URLSearchParams();
    if (section) params.set("section", section);
    if (token) params.set("access_token", token);
    const qs = params.toString();
    const url = `/api/v1/shows/${encodeURIComponent(showId)}/seats/stream${qs ? `?${qs}` : ""}`;
    source = new EventSource(url);
    const on = (event, name) =>
      source.addEventListener(event, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        call(name, data);
      });
    on("snapshot", "snapshot");
    on("seats", "seats");
    on("hold", "hold");
    on("expired", "expired");
    source.addEventListener("open", () => {
      failures = 0;
      call("status", "live");
    });
    source.addEventListener("reauthenticate", () => reopen());
    source.addEventListener("error", () => {
      if (closed) return;
      call("status", "reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. an expired token): start again, without the token if
        // it is gone, backing off a little each time.
        failures += 1;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(reopen, Math.min(15_000, 1000 * 2 ** Math.min(failures, 4)));
      }
    });
  }

  function reopen() {
    if (source) source.close();
    clearTimeout(retryTimer);
    connect();
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      if (source) source.close();
      call("status", "closed");
    },
    reopen,
  };
}

/**
 * Keep `map` live: each snapshot replaces its seats and each change is applied to them, and then
 * `changed()` runs (to redraw a legend, say). Other handlers (hold, expired, status) pass through;
 * options go to openSeatStream.
 */
export function followSeatMap(showId, map, changed, handlers = {}, options = {}) {
  const follow = {
    ...handlers,
    snapshot: (data) => {
      map.setSeats(data.seats);
      changed();
    },
    seats: (data) => {
      map.applyChanges(data.changes);
      changed();
    },
  };
  return openSeatStream(showId, follow, options);
}

/** Fill `map` with the show's seats, call `changed()`, then follow the stream (followSeatMap). */
export async function liveSeatMap(showId, map, changed) {
  const initial = await api(`shows/${showId}/seats`, { auth: false });
  map.setSeats(initial.seats);
  changed();
  return followSeatMap(showId, map, changed);
}
