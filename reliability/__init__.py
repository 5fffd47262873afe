"""The reliability and security suite: scenarios that try to break the service's promises, and the
figures they measure.

``python -m reliability [--full] [--only 1,2,11] [--write-docs]`` runs it (``reliability.__main__``);
``reliability.figures`` is the vocabulary (a figure and its bound); ``reliability.core`` holds the
scenario protocol, discovery, the runner and the table;
``reliability.env`` gives each scenario its own database, Redis namespace, Ray namespace, services and
gateway, and the reconciliation that closes every scenario; ``reliability/scenarios/sNN_*.py`` are the
scenarios, one module each, exposing ``SCENARIO``. The latest full table lives in docs/reliability.md.
"""
