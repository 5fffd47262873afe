// Admin operations: notification dead letters (list, replay) and staff accounts (box office, admins).

import { api } from "../api.js";
import { busy, field, formatDateTime, h, messageArea, mount, notice, onSubmit, plural, spinner } from "../dom.js";
import { create } from "./admin-catalog.js";

export async function deadLettersPanel(panel) {
  const list = h("div", {}, spinner("Loading dead letters…"));
  const area = messageArea("form-message");
  const message = area.el;
  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Dead letters"),
    h(
      "p",
      { class: "muted" },
      "Notifications whose delivery ran out of attempts. Replaying sends them again to the targets that never got them.",
    ),
    message,
    list,
  );
  const items = [];
  let nextAfter = null;
  let total = 0;

  async function loadMore(after) {
    try {
      const page = await api("admin/dead-letters", { query: { limit: 50, after } });
      items.push(...page.items);
      nextAfter = page.next_after;
      total = page.total;
      draw();
    } catch (error) {
      mount(list, notice(error.message, "error"));
    }
  }

  function draw() {
    if (!items.length) {
      mount(list, notice("No dead letters: every notification was delivered.", "success"));
      return;
    }
    mount(
      list,
      h("p", {}, `${plural(total, "dead letter")}`),
      h(
        "ul",
        { class: "letter-list" },
        items.map((letter) => {
          const replay = h("button", { type: "button", class: "secondary" }, "Replay");
          replay.addEventListener("click", async () => {
            try {
              await busy(replay, "Replaying…", () =>
                api(`admin/dead-letters/${encodeURIComponent(letter.id)}/replay`, { method: "POST" }),
              );
              items.splice(items.indexOf(letter), 1);
              total = Math.max(0, total - 1);
              area.say(`The ${letter.kind} notification was sent again.`, "success");
              draw();
            } catch (error) {
              area.say(error.message, "error");
            }
          });
          return h(
            "li",
            { class: "panel letter" },
            h(
              "div",
              { class: "letter-head" },
              h("strong", {}, letter.kind),
              h("span", { class: "muted" }, letter.failed_at ? ` · failed ${formatDateTime(letter.failed_at)}` : ""),
              replay,
            ),
            h("p", {}, letter.reason),
            letter.failures.length
              ? h(
                  "ul",
                  { class: "failures" },
                  letter.failures.map((f) => h("li", {}, `${f.target}: ${plural(f.attempts, "attempt")} · ${f.error}`)),
                )
              : null,
            h(
              "details",
              {},
              h("summary", {}, "Payload"),
              h("pre", { class: "payload" }, JSON.stringify(letter.payload, null, 2)),
            ),
          );
        }),
      ),
      nextAfter
        ? h("button", { type: "button", class: "secondary", onclick: () => loadMore(nextAfter) }, "Load more")
        : null,
    );
  }
  await loadMore(undefined);
}

export async function staffPanel(panel) {
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
  const name = h("input", { type: "text", name: "name", maxlength: 200 });
  const password = h("input", {
    type: "password",
    name: "password",
    minlength: 8,
    required: true,
    autocomplete: "new-password",
  });
  const role = h(
    "select",
    { name: "role" },
    [
      ["box_office", "Box office"],
      ["gate", "Gate (door staff)"],
      ["admin", "Admin"],
      ["customer", "Customer"],
    ].map(([v, l]) => h("option", { value: v }, l)),
  );
  const staffArea = messageArea("form-message");
  const message = staffArea.el;
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  mount(
    panel,
    h("h2", { id: "admin-tab-title" }, "Staff accounts"),
    h(
      "form",
      {
        class: "panel form-grid",
        "aria-label": "New staff account",
        onsubmit: onSubmit(staffArea, async (e) => {
          const account = await create(submit, "Creating…", "admin/users", {
            email: email.value.trim(),
            name: name.value.trim() || null,
            password: password.value,
            role: role.value,
          });
          staffArea.say(
            `${account.email} can now sign in as ${role.selectedOptions[0].textContent.toLowerCase()}.`,
            "success",
          );
          e.target.reset();
        }),
      },
      h("h3", {}, "New account"),
      field("E-mail", email),
      field("Name", name),
      field("Password", password, "At least 8 characters; give it to the person in person."),
      field("Role", role),
      h("div", { class: "form-actions" }, submit),
      message,
    ),
  );
}
