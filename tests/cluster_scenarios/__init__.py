"""Scenarios that need a Ray cluster of their own, run as scripts in a subprocess by the integration tests.

The test process already runs a local Ray instance (``tests/conftest.py``); a process can be the driver of
only one cluster, so a scenario that builds its own multi-node cluster runs in a process of its own and
reports what it saw as JSON for the test to judge.
"""
