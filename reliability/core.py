"""The suite's runner: the scenario protocol, discovery, running in an ``Env``, the table, the docs page.

This module owns what every scenario shares and nothing any scenario does: a ``Scenario`` turns an
``Env`` into figures (``reliability.figures``: one measured number with the bound it must meet), and a
``SizedScenario`` is one whose short and full versions differ by a ``Size`` of its own;
``discover`` finds the scenario modules in ``reliability/scenarios`` (each exposes ``SCENARIO``);
``run_suite`` runs them, each in its own ``Env``, followed by that env's reconciliation; ``format_table``
and ``write_docs`` print the figures and keep the latest full table in ``docs/reliability.md``.

Why discovery instead of a list: scenarios are written independently, and one not written yet (or one
that fails to import) must leave a gap in the table, not stop the others. A module that does not import
is reported as one failed figure ("module imports"), since a broken scenario must not pass silently; a
module that simply does not exist is absent.
"""

from __future__ import annotations

import importlib
import pkgutil
import platform
import re
import sys
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar, runtime_checkable

from reliability.env import Env
from reliability.figures import Figure

__all__ = [
    "DOCS_PATH",
    "Scenario",
    "ScenarioResult",
    "SizedScenario",
    "discover",
    "format_table",
    "run_scenario",
    "run_suite",
    "write_docs",
]

ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = ROOT / "docs" / "reliability.md"
TABLE_BEGIN = "<!-- reliability-table:begin -->"
TABLE_END = "<!-- reliability-table:end -->"


@runtime_checkable
class Scenario(Protocol):
    """What a scenario module exposes as ``SCENARIO``.

    Optional attributes the runner reads with ``getattr``: ``own_postgres`` / ``own_redis`` (bool, default
    False: the scenario stops or breaks that service, so the suite must run a throwaway one of its own).
    ``run`` may call ``env.reconcile()`` itself (e.g. while its service is still up); otherwise the runner
    calls it right after ``run`` returns, before the env is torn down.
    """

    number: int
    title: str

    def run(self, env: Env, full: bool) -> list[Figure]: ...


SizeT = TypeVar("SizeT")


class SizedScenario(ABC, Generic[SizeT]):
    """A ``Scenario`` measured at one of two sizes of its own (a frozen dataclass: buyers, seconds, …):
    the short one in CI and by default, the full one for the documented table (``--full``).

    A subclass sets ``number`` and ``title`` and writes ``measure``; its module makes ``SCENARIO`` with
    both sizes, and ``run`` picks one."""

    number: int
    title: str

    def __init__(self, short: SizeT, full: SizeT) -> None:
        self.short = short
        self.full = full

    def run(self, env: Env, full: bool) -> list[Figure]:
        return self.measure(env, self.full if full else self.short)

    @abstractmethod
    def measure(self, env: Env, size: SizeT) -> list[Figure]: ...


@dataclass
class ScenarioResult:
    number: int
    title: str
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.figures)


@dataclass(frozen=True)
class Discovered:
    """A scenario module found on disk: the scenario, or why it could not be loaded."""

    module: str
    number: int
    scenario: Scenario | None
    error: str | None = None


_MODULE_NAME = re.compile(r"^s(\d{2})_\w+$")


def discover(only: Iterable[int] | None = None) -> list[Discovered]:
    """Scenario modules ``reliability/scenarios/sNN_*.py``, by number; ``only`` keeps those numbers."""
    import reliability.scenarios as package

    wanted = set(only) if only is not None else None
    found: list[Discovered] = []
    for info in pkgutil.iter_modules(package.__path__):
        match = _MODULE_NAME.match(info.name)
        if match is None:
            continue
        number = int(match.group(1))
        if wanted is not None and number not in wanted:
            continue
        name = f"{package.__name__}.{info.name}"
        try:
            module = importlib.import_module(name)
            scenario = module.SCENARIO
            if not isinstance(scenario, Scenario):
                raise TypeError(f"{name}.SCENARIO does not have number, title and run()")
        except Exception as exc:
            found.append(Discovered(name, number, None, f"{type(exc).__name__}: {exc}"))
            continue
        found.append(Discovered(name, scenario.number, scenario))
    return sorted(found, key=lambda d: (d.number, d.module))


Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_scenario(scenario: Scenario, full: bool, progress: Progress = _stderr) -> ScenarioResult:
    """Run one scenario in a fresh ``Env``, then reconcile; an exception becomes a failed figure."""
    started = time.monotonic()
    result = ScenarioResult(scenario.number, scenario.title)
    try:
        with Env(
            scenario.number,
            own_postgres=bool(getattr(scenario, "own_postgres", False)),
            own_redis=bool(getattr(scenario, "own_redis", False)),
            progress=progress,
        ) as env:
            result = _run_in(env, scenario, full, progress)
    except Exception:
        progress(traceback.format_exc())
        result.figures.append(Figure(scenario.number, "environment starts and stops", "exception", "clean", False))
    result.seconds = time.monotonic() - started
    return result


def _run_in(env: Env, scenario: Scenario, full: bool, progress: Progress) -> ScenarioResult:
    """One scenario in ``env`` (its own, or one shared with others): its figures, then a reconciliation
    under its number unless the scenario made its own."""
    result = ScenarioResult(scenario.number, scenario.title)
    started = time.monotonic()
    env.number, env.reconciled = scenario.number, False
    try:
        result.figures.extend(scenario.run(env, full))
    except Exception:
        progress(traceback.format_exc())
        result.figures.append(Figure(scenario.number, "scenario completes", "exception", "no exception", False))
    if not env.reconciled:
        result.figures.extend(env.reconcile())
    result.seconds = time.monotonic() - started
    return result


def run_suite(
    only: Iterable[int] | None = None, full: bool = False, progress: Progress = _stderr, shared: bool = False
) -> list[ScenarioResult]:
    """Discover and run the scenarios in number order, printing progress as each starts and ends.

    ``shared``: scenarios that do not need servers of their own run one after another in one ``Env``
    (one database, and one service per distinct configuration), each still followed by a
    reconciliation, which then covers everything so far. Faster (start-up dominates short runs) but
    less isolated; the default gives each scenario a fresh world."""
    results: list[ScenarioResult] = []
    with ExitStack() as stack:
        shared_env: Env | None = None
        for found in discover(only):
            if found.scenario is None:
                progress(f"[{found.number:2d}] {found.module}: cannot load: {found.error}")
                broken = ScenarioResult(found.number, found.module)
                broken.figures.append(Figure(found.number, "module imports", found.error or "?", "imports", False))
                results.append(broken)
                continue
            scenario = found.scenario
            progress(f"[{scenario.number:2d}] {scenario.title} ({'full' if full else 'short'}) …")
            owns = bool(getattr(scenario, "own_postgres", False) or getattr(scenario, "own_redis", False))
            if shared and not owns:
                if shared_env is None:
                    shared_env = stack.enter_context(Env(scenario.number, progress=progress, reuse_services=True))
                result = _run_in(shared_env, scenario, full, progress)
            else:
                result = run_scenario(scenario, full, progress)
            mark = "ok" if result.ok else "FAILED"
            progress(f"[{scenario.number:2d}] {mark} in {result.seconds:.0f} s")
            results.append(result)
    return results


def _format_value(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def format_table(results: Sequence[ScenarioResult], markdown: bool = False) -> str:
    """The figures as a table: scenario, figure, value, bound, ok."""
    rows = [
        (f"{r.number}. {r.title}" if i == 0 else "", f.name, _format_value(f.value), f.bound, "ok" if f.ok else "FAIL")
        for r in results
        for i, f in enumerate(r.figures)
    ]
    header = ("scenario", "figure", "value", "bound", "ok")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "| --- | --- | ---: | --- | --- |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) if rows else len(header[i]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*row).rstrip() for row in rows]
    return "\n".join(out)


def machine_note() -> str:
    import os

    cpus = os.cpu_count() or 0
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"


def write_docs(results: Sequence[ScenarioResult], command: str, path: Path = DOCS_PATH) -> None:
    """Replace the table between the markers in ``docs/reliability.md`` (the rest of the page is kept)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    seconds = sum(r.seconds for r in results)
    block = "\n".join(
        [
            TABLE_BEGIN,
            f"Latest run: {stamp}, `{command}`, {seconds:.0f} s on {machine_note()} "
            "(PostgreSQL, Redis and Ray on the same machine).",
            "",
            format_table(results, markdown=True),
            TABLE_END,
        ]
    )
    text = path.read_text() if path.exists() else f"# Reliability and security\n\n{TABLE_BEGIN}\n{TABLE_END}\n"
    if TABLE_BEGIN in text and TABLE_END in text:
        before, rest = text.split(TABLE_BEGIN, 1)
        after = rest.split(TABLE_END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
