"""How many API processes a node runs by default: one per ~2.4 cores (``settings.api_workers_for``), from
the API process's measured share of a hold's CPU; never none."""

from __future__ import annotations

import pytest

from settings import API_CPU_SHARE, Settings, api_workers_for, usable_cores


@pytest.mark.parametrize(("cores", "processes"), [(1, 1), (2, 1), (4, 1), (5, 2), (8, 3), (16, 6)])
def test_api_processes_follow_the_cores(cores: int, processes: int) -> None:
    assert api_workers_for(cores) == processes


def test_a_second_process_starts_where_one_would_be_the_nodes_wall() -> None:
    first_with_two = next(c for c in range(1, 64) if api_workers_for(c) == 2)
    assert first_with_two * API_CPU_SHARE >= 2 > (first_with_two - 1) * API_CPU_SHARE


def test_the_default_is_this_machines_and_a_setting_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOKING_API_WORKERS", raising=False)
    assert Settings().api_workers == api_workers_for(usable_cores())
    monkeypatch.setenv("BOOKING_API_WORKERS", "4")
    assert Settings().api_workers == 4
