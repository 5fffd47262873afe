// Sign in or create an account. The forms are also used in a dialog on the seat map, so a person who
// picked seats before signing in keeps them.

import { register, signIn } from "../api.js";
import { busy, field, h, messageArea, mount, onSubmit } from "../dom.js";
import { navigate } from "../router.js";

/** Sign-in and registration forms; onDone(account) runs after either succeeds. */
export function authForms(onDone) {
  const wrap = h("div", { class: "auth" });
  const area = messageArea("form-message");
  const message = area.el;

  // A form of `fields` and a submit button; on submit the button says `busyText` while `send()` runs, and
  // the account it resolves to goes to onDone.
  function accountForm(label, fields, submitText, busyText, send) {
    const submit = h("button", { type: "submit", class: "primary" }, submitText);
    const onsubmit = onSubmit(area, async () => onDone(await busy(submit, busyText, send)));
    return h("form", { class: "stack", "aria-label": label, onsubmit }, fields, submit);
  }

  function signInForm() {
    const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
    const password = h("input", {
      type: "password",
      name: "password",
      autocomplete: "current-password",
      required: true,
    });
    return accountForm("Sign in", [field("E-mail", email), field("Password", password)], "Sign in", "Signing in…", () =>
      signIn(email.value.trim(), password.value),
    );
  }

  function registerForm() {
    const name = h("input", { type: "text", name: "name", autocomplete: "name", maxlength: 200 });
    const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
    const password = h("input", {
      type: "password",
      name: "new-password",
      autocomplete: "new-password",
      minlength: 8,
      required: true,
    });
    const fields = [
      field("Your name", name),
      field("E-mail", email),
      field("Password", password, "At least 8 characters."),
    ];
    return accountForm("Create an account", fields, "Create account", "Creating your account…", () =>
      register(email.value.trim(), password.value, name.value.trim()),
    );
  }

  let mode = "signin";
  const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Sign in or register" });
  const panel = h("div", {});
  const tab = (key, label) =>
    h(
      "button",
      { type: "button", class: "tab", "aria-pressed": String(mode === key), onclick: () => ((mode = key), draw()) },
      label,
    );
  function draw() {
    mount(tabs, tab("signin", "I have an account"), tab("register", "I'm new here"));
    mount(panel, mode === "signin" ? signInForm() : registerForm());
    area.clear();
  }
  draw();
  return mount(wrap, tabs, message, panel);
}

/** A modal dialog with the forms; resolves with the account, or null if closed. */
export function signInDialog(reason) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "signin-title" });
    const close = h(
      "button",
      { type: "button", class: "link-button dialog-close", onclick: () => dialog.close() },
      "Close",
    );
    dialog.append(
      h("div", { class: "dialog-head" }, h("h2", { id: "signin-title" }, "Sign in to continue"), close),
      reason ? h("p", { class: "muted" }, reason) : null,
      authForms((account) => {
        dialog.returnValue = "ok";
        dialog.close();
        resolve(account);
      }),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (dialog.returnValue !== "ok") resolve(null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function render(main, _params, query) {
  const next = query.get("next");
  const target = next && next.startsWith("/app") && !next.startsWith("/app/signin") ? next : "/app/";
  mount(
    main,
    h(
      "div",
      { class: "narrow" },
      h("h1", {}, "Sign in"),
      h("p", { class: "muted" }, "Sign in to hold seats, pay and see your bookings."),
      authForms(() => navigate(target, { replace: true })),
    ),
  );
}
