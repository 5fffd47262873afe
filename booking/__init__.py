"""The booking application service: the use cases the HTTP routes share, free of HTTP.

``booking.service`` finds the show, checks it is on sale, sends commands to its actor, runs the
idempotency protocol and the pay / abort / refund saga; ``booking.ports`` names what it needs from the
outside (the show actors, the seat-map reader, the stored records, refunds), so unit tests can hand it
fakes. ``booking.scheduling`` holds the rules a new show must meet before it is stored. Both raise
domain errors (``actors.errors`` and ``booking.errors``); ``api.problems`` maps them to HTTP. Nothing here
imports ``api``.
"""
