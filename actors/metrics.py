"""What a show actor tells operators: custom Ray metrics, recorded after each committed batch.

Owns the metric names and what counts toward each. ``ShowMetrics`` is the only object the show actor talks
to; it is called once a batch is durable, never before the commit, and aggregates per batch (a handful of
metric updates of ~3-4 µs each per actor call, against milliseconds for the commit). It never raises: a
metrics failure can cost a data point, never a booking.

Ray exports these for Prometheus on each node's metrics port: ``METRICS`` key ``holds`` is scraped as
``ray_seatwise_holds_total`` (Ray prefixes ``ray_``, counters get ``_total``, histograms ``_bucket`` /
``_sum`` / ``_count``), labelled ``show_id`` plus Ray's own labels (``NodeAddress``, ``WorkerId``…).
Refusals are counted by error type (``SeatsUnavailable`` is a seat conflict); payments by outcome, as the
actor sees them: ``started``, ``declined`` / ``failed`` (aborted), ``captured`` (booked after a charge).
``cluster/grafana/seatwise.json`` charts them; docs/deploy.md lists them for operators.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from actors.door import CheckInResult
from actors.errors import BookingError
from actors.seat_map_core import (
    Admitted,
    BookingConfirmed,
    EntryConflict,
    Event,
    HoldReleased,
    PaymentAborted,
    PaymentStarted,
    SeatsHeld,
)

log = logging.getLogger("booking.metrics")

PREFIX = "seatwise_"
BATCH_SIZE_BOUNDARIES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]
COMMIT_SECONDS_BOUNDARIES = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
GAUGE_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class MetricSpec:
    kind: Literal["counter", "gauge", "histogram"]
    description: str
    tags: tuple[str, ...] = ()  # besides the subject's own (show_id, host)
    boundaries: tuple[float, ...] = ()

    def exported(self, key: str) -> str:
        """The name Prometheus scrapes (Ray prefixes ``ray_``; counters get ``_total``)."""
        return f"ray_{PREFIX}{key}" + ("_total" if self.kind == "counter" else "")


METRICS: dict[str, MetricSpec] = {
    "holds": MetricSpec("counter", "Holds created."),
    "seats_held": MetricSpec("counter", "Seats in the holds created."),
    "bookings": MetricSpec("counter", "Bookings confirmed."),
    "hold_expirations": MetricSpec("counter", "Holds that expired."),
    "hold_releases": MetricSpec("counter", "Holds ended before expiry, by reason.", ("reason",)),
    "refusals": MetricSpec("counter", "Commands refused, by reason (the error type).", ("reason",)),
    "payments": MetricSpec("counter", "Payment outcomes: started, declined, failed, captured.", ("outcome",)),
    "door_entries": MetricSpec(
        "counter",
        "Tickets admitted at the door, by gate; offline: admitted by a gate without network.",
        ("gate", "offline"),
    ),
    "door_scans": MetricSpec(
        "counter", "Scans the show decided: admitted, already_admitted, refused, exited.", ("result",)
    ),
    "door_conflicts": MetricSpec("counter", "Offline admits of tickets that were already in, by gate.", ("gate",)),
    "door_inside": MetricSpec(
        "gauge", "Places of the tickets inside now (share of the audience in: this / seats{status=booked})."
    ),
    "live_holds": MetricSpec("gauge", "Live holds of the show."),
    "seats": MetricSpec("gauge", "Seats of the show by status.", ("status",)),
    "batch_size": MetricSpec(
        "histogram", "Commands per actor call (one group commit).", boundaries=tuple(BATCH_SIZE_BOUNDARIES)
    ),
    "commit_seconds": MetricSpec(
        "histogram", "Duration of one batch's PostgreSQL transaction.", boundaries=tuple(COMMIT_SECONDS_BOUNDARIES)
    ),
}

# What a host of many shows reports (actors/show_host.py), tagged with the host's name; a promoted show's own
# actor reports its demotion the same way, tagged with its own name (show:<id>).
HOST_METRICS: dict[str, MetricSpec] = {
    "live_shows": MetricSpec("gauge", "Shows live on a host (activated and not passivated)."),
    "show_lifecycle": MetricSpec(
        "counter",
        "Hosted shows activated, passivated, evicted (budget), refused (budget), fenced, promoted to an actor "
        "of their own (busy), moved (a batch for a show with an actor of its own, re-routed), or demoted back "
        "to a host (counted by the show's own actor, tagged with its name).",
        ("event",),
    ),
}
LifecycleEvent = Literal["activated", "passivated", "evicted", "refused", "fenced", "promoted", "moved", "demoted"]

# What the gauges read from the actor: live holds, and seats by status.
GaugeSource = Callable[[], tuple[int, Mapping[str, int]] | None]
# Makes the metric objects of one show (Ray's, or fakes in tests).
MetricFactory = Callable[[str], dict[str, Any]]


class _Recorder:
    """Metric objects of one subject (a show, a host), and the switch that stops using them after the
    first failure, logged once as ``disabled``: a metrics failure costs data points, never a booking."""

    def __init__(self, subject: str, create: MetricFactory, disabled: str) -> None:
        self._disabled = disabled
        self._broken = False
        self._metrics: dict[str, Any] = {}
        try:
            self._metrics = create(subject)
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        if not self._broken:
            log.warning("%s: %r", self._disabled, exc)
        self._broken = True


class ShowMetrics(_Recorder):
    """The metrics of one show actor. Every method swallows its own failures (and logs the first)."""

    def __init__(
        self,
        show_id: str,
        gauges: GaugeSource,
        create: MetricFactory | None = None,
        inside: Callable[[], int] | None = None,
    ) -> None:
        self._gauges = gauges
        self._inside = inside
        self._next_gauge = 0.0
        super().__init__(show_id, create or ray_metrics, "show metrics disabled for this actor")

    def committed(self, events: Sequence[Event], commit_seconds: float) -> None:
        """A transaction with ``events`` committed in ``commit_seconds``."""
        if self._broken:
            return
        try:
            m = self._metrics
            m["commit_seconds"].observe(commit_seconds)
            holds = seats = bookings = expirations = 0
            releases: Tally[str] = Tally()
            payments: Tally[str] = Tally()
            entries: Tally[tuple[str, bool]] = Tally()
            conflicts: Tally[str] = Tally()
            for event in events:
                match event:
                    case Admitted(admission=admission):
                        entries[(admission.gate, admission.offline)] += 1
                    case EntryConflict(gate=gate):
                        conflicts[gate] += 1
                    case SeatsHeld(hold=hold):
                        holds += 1
                        seats += len(hold.seat_ids)
                    case BookingConfirmed(booking=booking):
                        bookings += 1
                        if booking.payment_key is not None:
                            payments["captured"] += 1
                    case HoldReleased(reason="expired"):
                        expirations += 1
                    case HoldReleased(reason=reason):
                        releases[reason] += 1
                    case PaymentStarted():
                        payments["started"] += 1
                    case PaymentAborted(outcome=outcome):
                        payments[outcome] += 1
            for name, value in (("holds", holds), ("seats_held", seats), ("bookings", bookings)):
                if value:
                    m[name].inc(value)
            if expirations:
                m["hold_expirations"].inc(expirations)
            for why, count in releases.items():
                m["hold_releases"].inc(count, tags={"reason": why})
            for result, count in payments.items():
                m["payments"].inc(count, tags={"outcome": result})
            for (gate, offline), count in entries.items():
                m["door_entries"].inc(count, tags={"gate": gate, "offline": str(offline).lower()})
            for gate, count in conflicts.items():
                m["door_conflicts"].inc(count, tags={"gate": gate})
            self._refresh_gauges()
        except Exception as exc:
            self._fail(exc)

    def batch(self, size: int, replies: Sequence[object]) -> None:
        """One actor call of ``size`` commands was answered with ``replies`` (after its commit)."""
        if self._broken:
            return
        try:
            self._metrics["batch_size"].observe(size)
            refusals = Tally(type(r).__name__ for r in replies if isinstance(r, BookingError))
            for why, count in refusals.items():
                self._metrics["refusals"].inc(count, tags={"reason": why})
            scans = Tally(r.outcome for r in replies if isinstance(r, CheckInResult))
            for result, count in scans.items():
                self._metrics["door_scans"].inc(count, tags={"result": result})
        except Exception as exc:
            self._fail(exc)

    def _refresh_gauges(self) -> None:
        now = time.monotonic()
        if now < self._next_gauge:
            return
        self._next_gauge = now + GAUGE_INTERVAL_SECONDS
        reading = self._gauges()
        if reading is None:
            return
        live_holds, seats = reading
        self._metrics["live_holds"].set(live_holds)
        for status, count in seats.items():
            self._metrics["seats"].set(count, tags={"status": status})
        if self._inside is not None:
            self._metrics["door_inside"].set(self._inside())


def ray_metrics(show_id: str) -> dict[str, Any]:
    """Ray's metric objects for one show, made from ``METRICS``, each tagged with the show id."""
    return _ray_metrics(METRICS, "show_id", show_id)


class HostMetrics(_Recorder):
    """The metrics of one host of shows. Never raises: a metrics failure costs a data point, not a show."""

    def __init__(self, host: str, create: MetricFactory | None = None) -> None:
        super().__init__(host, create or ray_host_metrics, "host metrics disabled")

    def lifecycle(self, event: LifecycleEvent, live_shows: int) -> None:
        if self._broken:
            return
        try:
            self._metrics["show_lifecycle"].inc(1, tags={"event": event})
            self._metrics["live_shows"].set(live_shows)
        except Exception as exc:
            self._fail(exc)


def ray_host_metrics(host: str) -> dict[str, Any]:
    """Ray's metric objects for one host, made from ``HOST_METRICS``, each tagged with the host's name."""
    return _ray_metrics(HOST_METRICS, "host", host)


def _ray_metrics(specs: Mapping[str, MetricSpec], tag: str, value: str) -> dict[str, Any]:
    """Ray's metric objects made from ``specs``, each tagged ``tag`` = ``value`` by default."""
    from ray.util.metrics import Counter, Gauge, Histogram

    metrics: dict[str, Any] = {}
    for key, spec in specs.items():
        name, tags = PREFIX + key, (tag, *spec.tags)
        if spec.kind == "counter":
            metrics[key] = Counter(name, description=spec.description, tag_keys=tags)
        elif spec.kind == "gauge":
            metrics[key] = Gauge(name, description=spec.description, tag_keys=tags)
        else:
            metrics[key] = Histogram(
                name, description=spec.description, boundaries=list(spec.boundaries), tag_keys=tags
            )
        metrics[key].set_default_tags({tag: value})
    return metrics
