"""The service installed alone starts: ``pip install .`` (no extras) into a throwaway venv, then ``seatwise``
on embedded defaults until ``/healthz`` answers 200, then Ctrl-C (SIGINT) and a clean exit.

Guards against a dependency that only an extra brings (SQLAlchemy's asyncio needed greenlet, which came
only through the dev tools). Standard library only: it runs before any venv exists. The source is copied
first (the files git knows, tracked or not ignored) so the build leaves nothing in the work tree. On any
failure it prints the service's log and exits 1.

    python3 .ci/bare_install_check.py [--timeout 180]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT = 1800.0  # a cold pip cache downloads Ray and friends
STOP_TIMEOUT = 60.0
LOG_LINES = 200


class CheckFailed(Exception):
    pass


def copy_source(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 (git from PATH)
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is listed and absent
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def healthz(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (http://127.0.0.1 only)
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def log_tail(path: Path) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_LINES:])


def run(work: Path, timeout: float) -> None:
    src, venv, data, log_path = work / "src", work / "venv", work / "data", work / "service.log"
    started = time.monotonic()
    copy_source(src)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603 (our own paths)
    install = subprocess.run(  # noqa: S603 (our own paths)
        [str(venv / "bin" / "pip"), "install", "-q", str(src)], timeout=INSTALL_TIMEOUT, check=False
    )
    if install.returncode != 0:
        raise CheckFailed(f"pip install . failed ({install.returncode})")
    print(f"bare install: pip install . done in {time.monotonic() - started:.0f} s", flush=True)
    script = venv / "bin" / "seatwise"
    help_run = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)  # noqa: S603
    if help_run.returncode != 0:
        raise CheckFailed(f"seatwise --help exited {help_run.returncode}:\n{help_run.stdout}{help_run.stderr}")

    # Embedded defaults: nothing from the caller's environment names a server, a Ray cluster or a setting.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_") and not k.startswith("RAY_")}
    for name in ("DATABASE_URL", "REDIS_URL", "PAYMENT_GATEWAY_URL", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    env.update(BOOKING_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    run_dir = work / "run"  # outside the source, so only the installed package can be imported
    run_dir.mkdir()
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (the venv's own script)
            [str(script), "--port", str(port)],
            cwd=run_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: on a timeout, everything it started is killed
        )
    try:
        begun = time.monotonic()
        deadline = begun + timeout
        while (status := healthz(url)) != 200:
            if process.poll() is not None:
                raise CheckFailed(f"seatwise exited with {process.returncode} before /healthz answered")
            if time.monotonic() >= deadline:
                raise CheckFailed(f"/healthz did not answer 200 within {timeout:.0f} s (last: {status})")
            time.sleep(0.5)
        print(f"bare install: /healthz answered 200 after {time.monotonic() - begun:.0f} s", flush=True)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"seatwise still running {STOP_TIMEOUT:.0f} s after SIGINT") from None
        if code != 0:
            raise CheckFailed(f"seatwise exited with {code} after SIGINT")
        print("bare install: seatwise stopped cleanly on SIGINT", flush=True)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc}\n--- service log (last {LOG_LINES} lines) ---\n{log_tail(log_path)}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /healthz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seatwise-bare-") as work:
        try:
            run(Path(work), args.timeout)
        except CheckFailed as exc:
            print(f"bare install check FAILED: {exc}", file=sys.stderr)
            return 1
    print("bare install check passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
