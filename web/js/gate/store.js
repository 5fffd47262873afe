// What a gate keeps on the device (localStorage, so it survives a reload and a flat battery's restart):
// per show, the manifest downloaded before doors open, the tickets this gate admitted (online or off), and
// the queue of offline admits still to sync, oldest first; and the gate's last show and name.
//
// The manifest holds every valid ticket's TOTP secret: a gate device is staff equipment. "Forget this
// show" (forget()) removes all of it once the doors close, and refuses while scans wait to be synced.

const PREFIX = "seatwise.gate";
const SETTINGS_KEY = `${PREFIX}.settings`;

function read(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}

export const settings = {
  get: () => read(SETTINGS_KEY, { showId: "", gate: "" }),
  set: (value) => write(SETTINGS_KEY, { ...settings.get(), ...value }),
};

/** The stored state of one show's door at this device. */
export function showStore(showId) {
  const key = (what) => `${PREFIX}.${what}.${showId}`;
  return {
    manifest: () => read(key("manifest"), null),
    saveManifest: (manifest) => write(key("manifest"), manifest),
    /** booking id → {at, gate}: tickets this device saw go in. */
    admits: () => read(key("admits"), {}),
    addAdmit(bookingId, at, gate) {
      write(key("admits"), { ...this.admits(), [bookingId]: { at, gate } });
    },
    /** [{code, scanned_at}]: offline admits not yet synced, oldest first. */
    queue: () => read(key("queue"), []),
    enqueue(scan) {
      write(key("queue"), [...this.queue(), scan]);
    },
    /** Drop the first `count` scans (those a sync has delivered; more may have been queued since). */
    dequeue(count) {
      write(key("queue"), this.queue().slice(count));
    },
    /** Conflicts the service reported for this gate's offline admits, newest first. */
    conflicts: () => read(key("conflicts"), []),
    addConflicts(found) {
      write(key("conflicts"), [...found, ...this.conflicts()].slice(0, 50));
    },
    forget() {
      for (const what of ["manifest", "admits", "queue", "conflicts"]) localStorage.removeItem(key(what));
    },
  };
}
