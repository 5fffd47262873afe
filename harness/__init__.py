"""Drives a running Seatwise service over HTTP and provisions throwaway backing services.

Shared by the test suite, the benchmarks (``bench``), the load harness (``loadtest``) and the reliability
suite (``reliability``). It is packaged with the service so those tools run from an installed tree, not
only from a checkout: the ``tests`` package is not installed, so nothing packaged may import it.

- ``harness.client``: a small client of the pinned HTTP contract (an admin's token, a show built from
  scratch, customers minted in bulk).
- ``harness.backing``: a fresh PostgreSQL database and a Redis, on the servers ``DATABASE_URL`` /
  ``REDIS_URL`` name or embedded throwaway ones.
- ``harness.service``: ``python main.py`` in a subprocess, restartable on the same port and data.
- ``harness.placement``: which Ray actor runs a show (its own, or its host under hosted placement), to
  ping or kill it.
- ``harness.fuzz``: the schemathesis checks the test and reliability scenario 10 both run.
"""
