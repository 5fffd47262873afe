"""The start banner's word on the Ray dashboard's token holds: the command it names prints a token the
dashboard of a fresh local Ray accepts, and the dashboard asks for one (a real Ray in a child process)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]

# What main.py does: a local Ray with its dashboard, then the banner's hint; the child holds Ray until stdin closes.
CHILD = textwrap.dedent("""
    import json, logging, sys
    import ray
    from api.observability import ray_dashboard_sign_in
    context = ray.init(num_cpus=1, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=0,
                       logging_level=logging.WARNING, log_to_driver=False)
    print(json.dumps({"dashboard": context.dashboard_url, "sign_in": ray_dashboard_sign_in()}), flush=True)
    sys.stdin.read()
    ray.shutdown()
""")


def test_banner_names_a_command_that_prints_the_token_the_dashboard_wants() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, f"the child printed nothing; stderr:\n{child.communicate(timeout=60)[1]}"
        started = json.loads(line)
        dashboard = f"http://{started['dashboard']}"
        hint = started["sign_in"]
        assert isinstance(hint, str)
        assert "get-auth-token" in hint
        command = hint.split("`")[1]
        token = subprocess.run(
            shlex.split(command), env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
        assert token

        assert httpx.get(f"{dashboard}/api/version", timeout=10).status_code == 401
        assert httpx.get(f"{dashboard}/api/version", params={"token": token}, timeout=10).status_code == 401
        answer = httpx.get(f"{dashboard}/api/version", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["ray_version"]
    finally:
        child.communicate(input="", timeout=120)
