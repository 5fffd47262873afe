"""Which Ray actor runs a show: the one answer tests and tools use before they reach or kill "the show's actor".

Under dedicated placement (``BOOKING_SHOW_PLACEMENT=dedicated``) it is the show's own actor ``show:<id>``
(``actors/show_actor.py``). Under hosted placement, the default, it is the host ``shows:<n>`` the show
lives on (``actors/show_host.py``), by the rule every API process uses (``routing.show_router.serving_actor``,
imported, not copied). So:

- ``ping`` asks that actor for the show's figures (pid and node of the process, epoch, counts; a host adds
  its name), activating the show first if it is not live, as the pre-warmer does;
- ``kill`` kills that actor the way a crash does. Under hosted placement that is the host, with every show
  on it: the process serving the show dies, which is the crash the tests mean;
- ``is_live`` says whether the show is active right now, without activating it: its own actor exists, or
  its host lists it among its live shows.

Under hosted placement a busy show may have been promoted to an actor of its own (``show:<id>``,
``BOOKING_SHOW_PROMOTE_RATE``): while that actor is registered, it is the one running the show.

The placement is the service's own: read from the environment the service was started with
(``Service.env()``, or any mapping of its variables), with the settings' defaults (``settings.Settings``)
for what that environment does not set.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

from actors.show_host import HOST_PREFIX
from routing.show_router import Placement, serving_actor
from settings import Settings

if TYPE_CHECKING:
    from harness.service import Service

__all__ = ["ShowPlacement"]


@dataclass(frozen=True, slots=True)
class ShowPlacement:
    """Where a service puts its shows, and how to reach the Ray actor running one of them."""

    placement: Placement
    hosts: int
    namespace: str  # the service's Ray namespace (``BOOKING_RAY_NAMESPACE``)

    @classmethod
    def from_env(cls, env: Mapping[str, str], namespace: str) -> ShowPlacement:
        """The placement a service started with the variables ``env`` uses."""
        fields = Settings.model_fields
        placement = env.get("BOOKING_SHOW_PLACEMENT", fields["show_placement"].default)
        hosts = int(env.get("BOOKING_SHOW_HOSTS", fields["show_hosts"].default))
        if placement not in get_args(Placement):
            raise ValueError(f"BOOKING_SHOW_PLACEMENT={placement!r} is not one of {get_args(Placement)}")
        if hosts < 1:
            raise ValueError(f"BOOKING_SHOW_HOSTS={hosts} is not a host count")
        return cls(placement, hosts, namespace)

    @classmethod
    def of(cls, service: Service) -> ShowPlacement:
        """The placement of ``service`` (what its environment says, or the default)."""
        return cls.from_env(service.env(), service.ray_namespace)

    @property
    def hosted(self) -> bool:
        return self.placement == "hosted"

    def actor_name(self, show_id: str) -> str:
        """The Ray actor running ``show_id``: ``show:<id>`` (dedicated, or a promoted hosted show whose own
        actor is registered) or its host ``shows:<n>`` (hosted)."""
        return serving_actor(show_id, self.placement, self.hosts, self.hosted and self._promoted(show_id))

    def _promoted(self, show_id: str) -> bool:
        import ray

        try:
            ray.get_actor(serving_actor(show_id, self.placement, self.hosts, own_actor=True), namespace=self.namespace)
        except ValueError:  # no actor by that name
            return False
        return True

    def actor(self, show_id: str) -> Any:
        """A handle on the Ray actor running ``show_id``; ``ValueError`` if none is registered."""
        import ray

        return ray.get_actor(self.actor_name(show_id), namespace=self.namespace)

    def ping(self, show_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The show's figures from the actor running it (``ShowActor.ping`` or ``ShowHost.ping``), which
        activates the show if it is not live; raises if that actor does not answer in ``timeout``."""
        import ray

        name = self.actor_name(show_id)
        handle: Any = ray.get_actor(name, namespace=self.namespace)
        call = handle.ping.remote(show_id) if name.startswith(HOST_PREFIX) else handle.ping.remote()
        info: dict[str, Any] = ray.get(call, timeout=timeout)
        return info

    def wait_ping(self, show_id: str, timeout: float = 60.0, not_pid: int | None = None) -> dict[str, Any]:
        """``ping`` until it answers (from a process other than ``not_pid``, if given): the actor may be
        starting or restarting. Raises the last failure, or ``TimeoutError``, after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = self.ping(show_id, timeout=5)
                if not_pid is None or info["pid"] != not_pid:
                    return info
            except Exception:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"show {show_id}: {self.actor_name(show_id)} still pid {not_pid}")
            time.sleep(0.2)

    def kill(self, show_id: str, restart: bool = True) -> str:
        """Kill the actor running ``show_id`` like a crash (``ray.kill``: no shutdown code runs); returns
        its name. Under hosted placement that is the show's host and every show on it. With ``restart``
        Ray brings it back (detached, ``max_restarts=-1``): a show's own actor activates again at once, a
        host comes back empty and activates each show on its next command."""
        import ray

        ray.kill(self.actor(show_id), no_restart=not restart)
        return self.actor_name(show_id)

    def kill_all(self, show_ids: Iterable[str], restart: bool = True) -> list[str]:
        """Kill the actors running ``show_ids``, each once (shows may share a host); returns their names."""
        import ray

        names = sorted({self.actor_name(show_id) for show_id in show_ids})
        for name in names:
            ray.kill(ray.get_actor(name, namespace=self.namespace), no_restart=not restart)
        return names

    def is_live(self, show_id: str, timeout: float = 10.0) -> bool:
        """Whether ``show_id`` is active now, without activating it: its own actor is registered
        (dedicated), or its host runs and lists it among its live shows (hosted)."""
        import ray
        from ray.exceptions import ActorDiedError

        name = self.actor_name(show_id)
        try:
            handle: Any = ray.get_actor(name, namespace=self.namespace)
        except ValueError:  # no actor by that name
            return False
        if not self.hosted or not name.startswith(HOST_PREFIX):  # its own actor is registered
            return True
        try:
            stats: dict[str, Any] = ray.get(handle.stats.remote(), timeout=timeout)
        except ActorDiedError:
            return False
        return show_id in stats["live_shows"]
