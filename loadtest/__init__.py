"""Seatwise's load-test harness for operators: locust shapes, the one command that runs them, the audit.

``python -m loadtest --shape flash-sale|browsing|waiting-room --users N --run-time 60s [--host URL]``
(``__main__``) starts the service on throwaway services (or targets ``--host``), seeds shows and accounts
before the measured period, runs locust headless with CSV and HTML reports, and then audits PostgreSQL
(``invariants``): the load must not have been able to sell a seat twice or lose a confirmed booking, and a
waiting room must have admitted strictly in its fair order, never after selling out. The package owns
every file under ``loadtest/``; it changes nothing in the service.

- ``plan``: what the harness hands to locust (shows, hot seats, tokens, where to write what users saw).
- ``seed``: shows and accounts, created through the real API and ``tests.api_client`` helpers.
- ``shapes``: the load shapes (``LoadTestShape``s); ``locustfile``: the users that follow them.
- ``reports``: reads locust's CSV files (progress line, summary table, the counts the audit compares).
- ``invariants``: the check against PostgreSQL after every run.
"""
