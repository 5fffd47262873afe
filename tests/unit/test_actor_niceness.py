"""A show actor's CPU priority applies to every thread of its process, not only the one that asks.

On Linux a nice value is per thread; Ray's main thread (which receives calls and serialises replies) is
not the thread that runs the actor's ``__init__``. Run in a child process: the test runner's own
priority stays as it was.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import os, threading
    from actors.show_actor import set_niceness as _set_niceness

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # never keeps the process alive
    other.start()

    # like Ray: the actor's code runs on a thread that is not the main one
    elsewhere = threading.Thread(target=_set_niceness, args=(7,))
    elsewhere.start()
    elsewhere.join()  # gone before the threads are listed

    def nice_of(tid):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[16])
        except (FileNotFoundError, ProcessLookupError):
            return None  # a thread (the imports start some) that ended since it was listed

    print(sorted({nice_of(tid) for tid in os.listdir("/proc/self/task")} - {None}))
    stop.set()
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_every_thread_of_the_actor_process_gets_the_niceness() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[7]", done.stdout + done.stderr
