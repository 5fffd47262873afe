// One booking: the ticket with its QR code (the live rotating code on screen, the static code in the print
// view and on paper), the price breakdown, and cancelling (with the refund shown).

import { api, session } from "../api.js";
import * as catalog from "../catalog.js";
import { busy, confirmDialog, formatMoney, h, messageArea, mount, panel } from "../dom.js";
import { navigate } from "../router.js";
import { showStatic, ticketCard } from "../ticket.js";

const BREAKDOWN_LABELS = {
  seats: "Tickets",
  convenience_fee: "Convenience fee",
  fee: "Convenience fee",
  total: "Total",
};

export async function render(main, { id }, query) {
  if (!session.signedIn()) {
    navigate(`/app/signin?next=${encodeURIComponent(`/app/bookings/${id}`)}`, { replace: true });
    return;
  }
  const booking = await api(`bookings/${id}`);
  const [details, ticket] = await Promise.all([
    catalog.showDetails(booking.show_id),
    // Where the code cannot be had now, the card says so in place of the QR code (and tries once more).
    booking.status === "confirmed" ? api(`bookings/${id}/ticket`).catch(() => null) : null,
  ]);
  const area = messageArea();
  const messages = area.el;
  const body = h("div", {});
  mount(
    main,
    h("h1", {}, query.get("confirmed") && booking.status === "confirmed" ? "Booking confirmed" : "Your ticket"),
    messages,
    body,
  );
  if (query.get("confirmed") && booking.status === "confirmed") {
    area.say(
      "Payment received. Show this ticket's QR code at the entrance. A confirmation e-mail is on its way.",
      "success",
    );
  }
  let card = null;
  let printView = false;
  draw(booking);
  // "Print ticket" shows the static code (so does the print stylesheet); after printing, the view as it was.
  const afterPrint = () => card && showStatic(card, printView);
  window.addEventListener("afterprint", afterPrint);
  return () => window.removeEventListener("afterprint", afterPrint);

  function draw(b) {
    const breakdown = Object.entries(b.price_breakdown || {}).filter(([k, v]) => k === "total" || v !== 0);
    const cancel = h("button", { type: "button", class: "danger" }, "Cancel booking");
    cancel.addEventListener("click", async () => {
      const sure = await confirmDialog(
        "Cancel this booking? The seats go back on sale and your payment is refunded, less the cancellation fee.",
        { confirmLabel: "Cancel booking", cancelLabel: "Keep it", danger: true },
      );
      if (!sure) return;
      try {
        const updated = await busy(cancel, "Cancelling…", () => api(`bookings/${b.id}/cancel`, { method: "POST" }));
        const refund =
          updated.refund_amount !== null && updated.refund_amount !== undefined
            ? `${formatMoney(updated.refund_amount)} will be refunded to your card.`
            : "Your refund is on its way.";
        area.say(`Booking cancelled. ${refund}`, "success");
        draw(updated);
      } catch (error) {
        area.say(error.message, "error");
      }
    });
    card = ticketCard({ booking: b, ...details, ticket: b.status === "confirmed" ? ticket : null, mode: "rotating" });
    printView = false;
    const viewToggle = h(
      "button",
      { type: "button", class: "secondary", "aria-pressed": "false" },
      "Print view (static code)",
    );
    viewToggle.addEventListener("click", () => {
      printView = !printView;
      showStatic(card, printView);
      viewToggle.setAttribute("aria-pressed", String(printView));
    });
    mount(
      body,
      h("div", { class: "ticket-wrap" }, card),
      panel(
        "price-title",
        "Price",
        h(
          "dl",
          { class: "price-lines" },
          breakdown.map(([k, v]) => [
            h("dt", { class: k === "total" ? "total" : null }, BREAKDOWN_LABELS[k] || k.replaceAll("_", " ")),
            h("dd", { class: k === "total" ? "total" : null }, formatMoney(v)),
          ]),
        ),
        b.status === "cancelled"
          ? h(
              "p",
              { class: "muted" },
              `Cancelled${b.refund_amount !== null ? ` · refund ${formatMoney(b.refund_amount)}` : ""}.`,
            )
          : null,
      ),
      h(
        "div",
        { class: "row-buttons no-print" },
        b.status === "confirmed" ? viewToggle : null,
        h(
          "button",
          {
            type: "button",
            class: "secondary",
            onclick: () => {
              showStatic(card, true);
              window.print();
            },
          },
          "Print ticket",
        ),
        b.status === "confirmed" ? cancel : null,
        h("a", { href: "/app/bookings", "data-link": true, class: "button-link" }, "All my bookings"),
      ),
    );
  }
}
