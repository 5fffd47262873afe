// One gate at one show's door: a scanned code goes to the service (POST /shows/{id}/check-ins) when there
// is network, and is decided here from the manifest when there is none (navigator.onLine false, or the
// request fails or the service cannot answer). Offline admits wait in a queue on the device and are sent
// to POST /shows/{id}/check-ins/sync as soon as the network is back; the service decides each as of its
// scan time and reports, as conflicts, the tickets that had gone in elsewhere first (docs/gate.md).
//
// An answer has the service's shape ({result, reason, booking_id, seats, holder, gate, at, offline}) plus
// `decidedBy`: "service" or "this gate" (offline).

import { api, ApiError } from "../api.js";
import { checkSignature, digitsValid, parseCode } from "./codes.js";
import { showStore } from "./store.js";

const SYNC_BATCH = 1000; // scans per sync request (the service takes up to 5,000)

/** Decide a scan from the manifest alone: the rules of the service, with the list as of its download. */
export async function decideOffline(manifest, admits, raw, gate, now = new Date()) {
  const invalid = (reason) => ({ result: "invalid", reason, seats: [], offline: true });
  const parsed = parseCode(raw);
  if (parsed.reason) return invalid(parsed.reason);
  const { claims, digits } = parsed;
  if (claims.s !== manifest.show_id) return invalid("other_show");
  if (claims.k === "r" && digits === null) return invalid("code_required");
  if (claims.k !== "r" && digits !== null) return invalid("malformed");
  const signature = await checkSignature(parsed, manifest.keys);
  if (signature === "bad_signature" || signature === "unknown_key") return invalid(signature);
  const ticket = manifest.tickets.find((t) => t.booking_id === claims.b);
  if (!ticket) {
    return {
      result: "refused",
      reason: "not on this gate's list: cancelled, refunded, or bought after the list was downloaded",
      booking_id: claims.b,
      seats: claims.st || [],
      holder: claims.h || null,
      offline: true,
    };
  }
  if (claims.k === "r" && !digitsValid(ticket.secret, digits, manifest, now.getTime())) return invalid("expired_code");
  const known = { booking_id: ticket.booking_id, seats: ticket.seats, holder: ticket.holder, offline: true, signature };
  const inside = admits[ticket.booking_id] || (ticket.in_at ? { at: ticket.in_at, gate: ticket.in_gate } : null);
  if (inside) return { ...known, result: "already_admitted", gate: inside.gate, at: inside.at };
  return { ...known, result: "admitted", gate, at: now.toISOString() };
}

/** A network failure or a service that cannot answer: the gate decides by itself. */
function unreachable(error) {
  return error instanceof ApiError && (error.status === 0 || error.status >= 500);
}

export class Door {
  constructor(showId, gate) {
    this.showId = showId;
    this.gate = gate;
    this.store = showStore(showId);
    this.syncing = null;
  }

  get manifest() {
    return this.store.manifest();
  }

  get pending() {
    return this.store.queue().length;
  }

  /** Download the show's valid tickets, who is in, and the keys; keep them on the device. */
  async prepare() {
    const manifest = await api(`shows/${this.showId}/gate-manifest`);
    this.store.saveManifest(manifest);
    return manifest;
  }

  /**
   * One scanned code: the service's answer when it can be had, else this gate's own decision. `direction`
   * "out" is an exit scan (a show with re-entry): only the service can take one.
   */
  async scan(code, direction = "in") {
    const text = String(code || "").trim();
    if (navigator.onLine) {
      if (this.pending) await this.sync().catch(() => null); // older admits first, if the network allows
      try {
        const answer = await api(`shows/${this.showId}/check-ins`, {
          method: "POST",
          json: { code: text, gate: this.gate, direction },
        });
        if (answer.result === "admitted" || answer.result === "already_admitted") {
          this.store.addAdmit(answer.booking_id, answer.at, answer.gate);
        }
        return { ...answer, decidedBy: "service" };
      } catch (error) {
        if (!unreachable(error)) throw error;
      }
    }
    if (direction === "out") {
      return { result: "unchecked", reason: "exits need the network", seats: [], decidedBy: "this gate" };
    }
    return this.scanOffline(text);
  }

  async scanOffline(code, now = new Date()) {
    const manifest = this.manifest;
    if (!manifest) {
      return {
        result: "unchecked",
        reason: "no network, and this gate was not prepared for doors: it has no list to check against",
        seats: [],
        decidedBy: "this gate",
      };
    }
    const answer = await decideOffline(manifest, this.store.admits(), code, this.gate, now);
    if (answer.result === "admitted") {
      this.store.addAdmit(answer.booking_id, answer.at, this.gate);
      this.store.enqueue({ code, scanned_at: answer.at, gate: this.gate });
    }
    return { ...answer, decidedBy: "this gate" };
  }

  /**
   * Send the queued offline admits (one sync at a time). Resolves to null when there was nothing to send,
   * else {sent, conflicts: [{booking_id, holder, seats, gate, at, scanned_at}], rejected, results}: conflicts
   * went in elsewhere first; rejected are those the service refused or found invalid (cancelled after the
   * list was downloaded, a key retired meanwhile).
   */
  sync() {
    if (!this.syncing) {
      this.syncing = this.syncOnce().finally(() => {
        this.syncing = null;
      });
    }
    return this.syncing;
  }

  async syncOnce() {
    const done = { sent: 0, conflicts: [], rejected: [], results: [] };
    // The queue in runs of one gate name (a gate renamed while offline keeps its scans' names), in order.
    for (let queue = this.store.queue(); queue.length; queue = this.store.queue()) {
      const gate = queue[0].gate || this.gate;
      const run = queue.slice(0, SYNC_BATCH);
      const otherGate = run.findIndex((s) => (s.gate || this.gate) !== gate);
      const batch = otherGate === -1 ? run : run.slice(0, otherGate);
      const answer = await api(`shows/${this.showId}/check-ins/sync`, {
        method: "POST",
        json: { gate, scans: batch.map(({ code, scanned_at }) => ({ code, scanned_at })) },
      });
      this.store.dequeue(batch.length);
      const results = answer.results.map((r, i) => ({ ...r, scanned_at: batch[i].scanned_at }));
      for (const r of results) {
        if (r.booking_id && r.at && (r.result === "admitted" || r.result === "already_admitted")) {
          this.store.addAdmit(r.booking_id, r.at, r.gate);
        }
      }
      const conflicts = results.filter((r) => r.result === "already_admitted");
      if (conflicts.length) this.store.addConflicts(conflicts);
      done.sent += batch.length;
      done.conflicts.push(...conflicts);
      done.rejected.push(...results.filter((r) => r.result === "refused" || r.result === "invalid"));
      done.results.push(...results);
    }
    return done.sent ? done : null;
  }
}
