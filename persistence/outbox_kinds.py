"""The kinds of notification event: the values of ``notification_outbox.kind``, defined once.

PostgreSQL writers put them in the outbox (the show actor's journal, ``persistence/show_store.py``; the
refund of a payment) and ``notifications/`` reads them back to pick an e-mail, filter webhooks and drop
moot reminders. They live here, in a module that imports nothing, because ``notifications/`` imports
``persistence/`` (``Database``): were they defined in ``notifications/events.py``, the journal would have
to import its way back into a package that imports it. ``notifications.events`` re-exports them.
"""

from __future__ import annotations

BOOKING_CONFIRMED = "booking.confirmed"
BOOKING_CANCELLED = "booking.cancelled"
BOOKING_REFUNDED = "booking.refunded"
HOLD_EXPIRING = "hold.expiring"
WAITLIST_OFFERED = "waitlist.offered"  # seats of a sold-out show held for the next on its waiting list
KINDS = (BOOKING_CONFIRMED, BOOKING_CANCELLED, BOOKING_REFUNDED, HOLD_EXPIRING, WAITLIST_OFFERED)
