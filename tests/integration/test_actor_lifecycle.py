"""Show actor lifecycle against real Ray and PostgreSQL: racing activation, fencing, the ledger.

The service runs its default placement (hosted, unless the environment says otherwise); the Ray actor
running a show is asked of ``ShowPlacement``. The racing-activation test is about the dedicated shell
itself (``show:<id>`` made by hand), so it stays dedicated whatever the service's placement.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import psycopg
import pytest
import ray

from actors.errors import StaleEpoch
from actors.seat_map_core import Hold, SeatsHeld
from actors.show_actor import RemoteShowActor, actor_name
from persistence.show_store import ShowStore
from settings import libpq_url
from tests.api_client import admin_headers, bulk_users, create_show, seed_hold
from tests.conftest import Backing, Service, ShowPlacement, actor_config


def held(user: str, seat: str) -> SeatsHeld:
    now = datetime.now(UTC)
    return SeatsHeld(Hold(str(uuid.uuid4()), user, (seat,), now, now + timedelta(minutes=10), Decimal(250)))


def test_a_superseded_epoch_cannot_write(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    ((user, _),) = bulk_users(backing.database_url, 1)

    async def scenario() -> None:
        old, new = ShowStore(backing.database_url, 5.0), ShowStore(backing.database_url, 5.0)
        stale = await old.activate(show.show_id)
        fresh = await new.activate(show.show_id)
        assert fresh.epoch == stale.epoch + 1
        with pytest.raises(StaleEpoch) as refused:
            await old.commit(show.show_id, stale.epoch, [held(user, "A1")])
        assert (refused.value.mine, refused.value.current) == (stale.epoch, fresh.epoch)
        await new.commit(show.show_id, fresh.epoch, [held(user, "A2")])
        await old.close()
        await new.close()

    asyncio.run(scenario())
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        seats = [r[0] for r in conn.execute("SELECT seat_id FROM seat_claims WHERE show_id = %s", (show.show_id,))]
    assert seats == ["A2"]


def test_a_fenced_actor_steps_down_and_ray_brings_back_a_current_one(live_service: Service, backing: Backing) -> None:
    """A copy whose epoch was taken behind its back refuses its next write (503) and steps down. Then a
    current copy serves: under dedicated placement the actor's process exits and Ray restarts it with a
    new epoch; under hosted placement the host drops the show (and serves on, same process) and
    activates it afresh on the next command."""
    placement = ShowPlacement.of(live_service)
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
        (_, token), (_, other) = bulk_users(backing.database_url, 2)
        assert seed_hold(client, show, token, ["A1"]).status_code == 200
        before = placement.ping(show.show_id)
        fenced_before = host_figure(placement, show.show_id, "fenced")
        # Another activation happens behind this actor's back (as when Ray restarts a show elsewhere).
        with psycopg.connect(libpq_url(backing.database_url), autocommit=True) as conn:
            conn.execute("UPDATE shows SET epoch = epoch + 1 WHERE id = %s", (show.show_id,))
        refused = seed_hold(client, show, token, ["A2"])
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        deadline = time.monotonic() + 30
        while True:
            retry = seed_hold(client, show, other, ["A2"])
            if retry.status_code == 200 or time.monotonic() > deadline:
                break
            assert retry.status_code == 503
            time.sleep(0.5)
        assert retry.status_code == 200
        after = placement.ping(show.show_id)
        if placement.hosted:
            assert after["pid"] == before["pid"], "a fenced show must not take its host down"
            assert host_figure(placement, show.show_id, "fenced") == fenced_before + 1
        else:
            assert after["pid"] != before["pid"]
        assert after["epoch"] > before["epoch"] + 1
        # Nothing the stale copy was asked to do got written, and what was acknowledged is still there.
        ledger = client.get(f"/api/v1/admin/shows/{show.show_id}/ledger", headers=admin_headers(client)).json()
    assert [(e["seat_id"], e["event"]) for e in ledger] == [("A1", "held"), ("A2", "held")]
    assert ledger[1]["epoch"] == after["epoch"]


def host_figure(placement: ShowPlacement, show_id: str, figure: str) -> int:
    """A lifecycle count of the show's host (``ShowHost.stats``); 0 under dedicated placement."""
    if not placement.hosted:
        return 0
    stats = cast("dict[str, Any]", ray.get(placement.actor(show_id).stats.remote(), timeout=30))
    return int(stats[figure])


def test_many_processes_racing_to_activate_a_show_share_one_actor(live_service: Service, backing: Backing) -> None:
    """About the dedicated shell itself: ``show:<id>`` is made here by hand, as ``ShowActors`` does under
    dedicated placement, whatever placement the service runs (it never routes to this show)."""
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
    config = actor_config(backing)

    def activate(_: int) -> str:
        handle = RemoteShowActor.options(
            name=actor_name(show.show_id),
            namespace=backing.ray_namespace,
            get_if_exists=True,
            lifetime="detached",
            max_restarts=-1,
            num_cpus=0,
        ).remote(show.show_id, config)
        info = ray.get(handle.ping.remote())
        return f"{handle._actor_id.hex()}:{info['pid']}"

    with ThreadPoolExecutor(16) as pool:
        identities = set(pool.map(activate, range(16)))
    assert len(identities) == 1


def test_the_ledger_is_append_only(live_service: Service, backing: Backing) -> None:
    with httpx.Client(base_url=live_service.base_url, timeout=30) as client:
        show = create_show(client)
        ((_, token),) = bulk_users(backing.database_url, 1)
        assert seed_hold(client, show, token, ["B3"]).status_code == 200
        history = client.get(
            f"/api/v1/admin/shows/{show.show_id}/ledger", params={"seat": "B3"}, headers=admin_headers(client)
        )
    assert history.status_code == 200
    assert [e["event"] for e in history.json()] == ["held"]
    with psycopg.connect(libpq_url(backing.database_url)) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE seat_ledger SET event = 'booked' WHERE show_id = %s", (show.show_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM seat_ledger WHERE show_id = %s", (show.show_id,))
