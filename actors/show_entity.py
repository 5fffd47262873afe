"""A show as a virtual actor: the single writer of one show's ``SeatMap``, free of Ray.

Protocol: ``apply(commands)`` takes a batch, runs each command against the seat map (each is accepted or
refused on its own), commits every accepted change to PostgreSQL and only then replies. PostgreSQL is
reached through the journal port (``actors/journal.py``) that the ``ActorConfig`` names; unit tests give
the entity an in-memory journal instead.

Pipelined group commit: batches run against the seat map one at a time (the execution lock), and their
changes are *staged* in order. Whoever then takes the commit lock writes everything staged so far in ONE
transaction, so while one transaction waits on the disk the next batches already run and queue behind it
(their answers still wait for their own commit). The seat map therefore runs ahead of PostgreSQL by at most
the staged batches, and nothing is answered, published or read back from that lead: if a commit fails, the
batches staged on top of it fail with it, and the entity throws its in-memory state away and reloads it
from PostgreSQL, the truth. Each reload starts a new generation, so a failure never takes down batches that
ran on the reloaded map.

States: activating (new epoch taken, rows loaded, timers re-armed) → serving → one of: retired (the show
started or was cancelled: holds released, sales closed), fenced (a newer activation took the epoch: its
commits are refused by the store), or passivated (idle, nothing staged, no payment in flight: stopped
cleanly with everything acknowledged already in PostgreSQL; the next command activates the show anew).
An entity told where it belongs (``own_actor``: in an actor of its own, or in a shared host) activates
only if the show's placement in PostgreSQL says so; otherwise it is *moved* at once, having taken no epoch,
and answers ``Moved`` so the API re-routes. A host moves a busy entity out with ``hand_over`` (everything
staged committed first, payments in flight included: the next activation reloads them from PostgreSQL).
Who hosts the entity decides what "gone" means (``on_gone``): a Ray actor of its own exits
(``actors/show_actor.py``), a shared host drops it from memory (``actors/show_host.py``).

Background tasks: the expiry timer frees seats of expired holds early (an expired hold owns nothing
anyway, so nothing depends on the timer of an entity that is gone: design rule 4), and the publisher pushes
the seat map to Redis, where the API reads it without asking the actor. Redis failures never affect
bookings. Metrics for operators (``actors/metrics.py``) are recorded after each commit and cannot fail a
batch either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from actors.commands import (
    AbortPayment,
    BeginPayment,
    BlockSeats,
    CancelBooking,
    CancelShow,
    CheckIn,
    Command,
    ConfirmHolds,
    Done,
    ExtendHold,
    HeldHolds,
    HoldBestAvailable,
    HoldSeats,
    PreparePayment,
    ReleaseHold,
    Reply,
    ShowCancellation,
    UnblockSeats,
    booking_answer,
    hold_answer,
)
from actors.door import Door
from actors.errors import BookingError, HoldNotFound, Moved, SalesClosed, StaleEpoch, Unavailable
from actors.journal import CommitExtras, IdempotentAnswer, Journal, Journals, PaymentOrigin
from actors.metrics import ShowMetrics
from actors.redis_publisher import SeatMapPublisher
from actors.seat_map_core import Event, SeatMap, ShowRules

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("booking.show_actor")

Gone = Literal["retired", "fenced", "moved"]
R = TypeVar("R", bound=Reply)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ActorConfig:
    journals: Journals  # where shows are loaded from and committed to (``actors/journal.py``)
    redis_url: str
    redis_prefix: str
    max_seats_per_user: int
    max_seats_per_request: int
    max_extensions: int
    db_timeout_seconds: float
    publish_interval_seconds: float
    payment_window_seconds: float = 120.0
    convenience_fee: Decimal = Decimal(0)
    cancel_cutoff_seconds: float = 0.0
    cancellation_fee_rate: Decimal = Decimal(0)
    niceness: int | None = 0
    idempotency_key_ttl_seconds: float = 86_400.0  # a keyed answer is replayed only while its key lives

    @classmethod
    def from_settings(
        cls, settings: Settings, *, journals: Journals, redis_url: str, redis_prefix: str | None = None
    ) -> ActorConfig:
        """The service's show actors as the settings configure them, on ``journals`` and the Redis at
        ``redis_url``, publishing under ``redis_prefix`` (the settings' own unless given)."""
        return cls(
            journals=journals,
            redis_url=redis_url,
            redis_prefix=settings.redis_prefix if redis_prefix is None else redis_prefix,
            max_seats_per_user=settings.max_seats_per_user,
            max_seats_per_request=settings.max_seats_per_request,
            max_extensions=settings.max_hold_extensions,
            db_timeout_seconds=settings.db_timeout_seconds,
            publish_interval_seconds=settings.seatmap_publish_interval_seconds,
            payment_window_seconds=settings.payment_window_seconds,
            convenience_fee=settings.convenience_fee_per_ticket,
            cancel_cutoff_seconds=settings.cancellation_cutoff_minutes * 60,
            cancellation_fee_rate=settings.cancellation_fee_percent / 100,
            niceness=settings.show_actor_niceness,
            idempotency_key_ttl_seconds=settings.idempotency_key_ttl_hours * 3600,
        )


MAX_REMEMBERED_ANSWERS = 10_000  # keyed answers an entity replays from memory (the oldest go first)


class EntityStopped(Exception):
    """This entity was passivated (or stopped) while the batch waited for it: nothing of the batch ran,
    so the host may hand it to a fresh activation."""


class _Pending:
    """The outcome of a staged batch whose transaction has not finished yet."""


_PENDING = _Pending()


@dataclass(slots=True)
class _Staged:
    """One batch's changes waiting for their transaction, and that transaction's outcome."""

    events: list[Event]
    extras: CommitExtras
    close_show: bool
    generation: int
    outcome: BookingError | _Pending | None = _PENDING


def _merged(extras: Iterable[CommitExtras]) -> CommitExtras:
    """The extras of several batches committed in one transaction."""
    merged = CommitExtras()
    for e in extras:
        merged.payment_refs.update(e.payment_refs)
        merged.box_office.update(e.box_office)
        merged.payment_origins.update(e.payment_origins)
        merged.answers.extend(e.answers)
    return merged


class ShowEntity:
    """Owns one show while it is active. Must be created on a running event loop."""

    def __init__(
        self,
        show_id: str,
        config: ActorConfig,
        store: Journal,
        publisher: SeatMapPublisher,
        on_gone: Callable[[ShowEntity, Gone], None],
        clock: Callable[[], float] = time.monotonic,
        own_actor: bool | None = None,
    ) -> None:
        self.show_id = show_id
        self._own_actor = own_actor  # where this copy runs, checked at activation (None: not checked)
        self._moved = False
        self.config = config
        self._store = store
        self._publisher = publisher
        self._on_gone = on_gone
        self._clock = clock
        self.last_used = clock()  # when the last batch arrived: what idleness and LRU order go by
        self._running = 0  # batches inside ``apply`` (waiting for the lock or a commit)
        # (user, Idempotency-Key) -> (request hash, answer, when) of this activation's keyed requests
        self._answered: dict[tuple[str, str], tuple[str, Reply, float]] = {}
        self._stopped = False
        self._lock = asyncio.Lock()  # execution: one batch at a time runs against the seat map
        self._commit_lock = asyncio.Lock()  # one transaction at a time, in staging order
        self._staged: list[_Staged] = []
        self._generation = 0  # bumped by every (re)activation: which seat map a staged batch ran on
        self._map: SeatMap | None = None
        self._door: Door | None = None
        self._epoch = -1
        self._fenced = False
        self._retired = False
        self._sales_over = False  # the show started and its sales closing is committed
        self._wake = asyncio.Event()
        self._activated_at = 0.0
        self._drop_task: asyncio.Task[None] | None = None
        self._stats: dict[str, float] = {
            "batches": 0,
            "commands": 0,
            "commits": 0,
            "reloads": 0,
            "execute_seconds": 0.0,
            "commit_seconds": 0.0,
            "snapshot_seconds": 0.0,
        }
        # Recorded after commits, never raises.
        self._metrics = ShowMetrics(show_id, self._gauge_reading, inside=self._places_inside)
        loop = asyncio.get_running_loop()
        self._activation: asyncio.Task[None] = loop.create_task(self._activate())
        self._timer = loop.create_task(self._expiry_loop())
        self._publish_task = loop.create_task(
            self._publisher.run(self._locked_snapshot, config.publish_interval_seconds)
        )

    # -- activation ---------------------------------------------------------------------------------

    async def _activate(self) -> None:
        started = time.perf_counter()
        try:
            stored = await self._store.activate(self.show_id, self._own_actor)
        except Moved:
            self._moved = True
            self._on_gone(self, "moved")
            raise
        rules = ShowRules(
            show_id=self.show_id,
            starts_at=stored.starts_at,
            hold_ttl=stored.hold_ttl,
            max_seats_per_user=self.config.max_seats_per_user,
            max_extensions=self.config.max_extensions,
            max_seats_per_request=self.config.max_seats_per_request,
            payment_window=timedelta(seconds=self.config.payment_window_seconds),
            convenience_fee=self.config.convenience_fee,
            cancel_cutoff=timedelta(seconds=self.config.cancel_cutoff_seconds),
            cancellation_fee_rate=self.config.cancellation_fee_rate,
            sales_open_at=stored.sales_open_at,
            sales_close_at=stored.sales_close_at,
        )
        self._map = SeatMap.restore(
            rules,
            stored.seats,
            utc_now,
            holds=stored.holds,
            bookings=stored.bookings,
            blocked=stored.blocked,
            sales_closed=stored.status != "on_sale",
        )
        self._door = Door(self._map.booking, utc_now, stored.reentry, stored.admissions)
        self._epoch = stored.epoch
        self._generation += 1
        self._answered.clear()
        self._activated_at = time.perf_counter() - started
        self._publisher.mark_dirty()
        self._wake.set()
        log.info("show %s activated at epoch %d in %.3fs", self.show_id, self._epoch, self._activated_at)

    async def _ready_map(self) -> SeatMap:
        """The seat map, (re)activating first if needed. Raises ``Unavailable`` while PostgreSQL is down."""
        if self._stopped:
            raise EntityStopped(self.show_id)
        if self._moved:
            raise Moved(self.show_id, not self._own_actor)
        if self._fenced:
            raise Unavailable("this copy of the show was superseded; retry", 1)
        if self._retired:
            raise SalesClosed(self.show_id)
        if self._map is None:
            if self._activation.done():
                self._activation = asyncio.get_running_loop().create_task(self._activate())
            try:
                await asyncio.shield(self._activation)
            except BookingError:
                raise
            except Exception as exc:
                log.warning("activation of show %s failed: %r", self.show_id, exc)
                raise Unavailable("the booking database is not reachable", 2) from exc
        assert self._map is not None
        return self._map

    # -- the batch path -----------------------------------------------------------------------------

    async def apply(self, commands: Sequence[Command]) -> list[Reply]:
        """Run a batch; every accepted change is durable before this returns. Raises ``EntityStopped``,
        having run nothing, if the entity was passivated while the batch waited."""
        self.last_used = self._clock()
        self._running += 1
        try:
            return await self._apply(commands)
        finally:
            self._running -= 1

    async def _apply(self, commands: Sequence[Command]) -> list[Reply]:
        async with self._lock:
            if self._stopped:
                raise EntityStopped(self.show_id)
            try:
                seat_map = await self._ready_map()
            except BookingError as exc:
                return [exc for _ in commands]
            started = time.perf_counter()
            replies: list[Reply] = []
            events: list[Event] = []
            extras = CommitExtras()
            for command in commands:
                try:
                    reply = self._execute(seat_map, command, extras)
                except BookingError as exc:
                    reply = exc
                replies.append(reply)
                events.extend(seat_map.drain_events())
                if self._door is not None:
                    events.extend(self._door.drain_events())
            self._stats["batches"] += 1
            self._stats["commands"] += len(commands)
            self._stats["execute_seconds"] += time.perf_counter() - started
            # Staged even without events: its answers may rest on batches staged before it.
            staged = self._stage(events, extras)
        failure = await self._flush(staged)
        if failure is not None:
            replies = [r if isinstance(r, BookingError) else failure for r in replies]
            self._metrics.batch(len(commands), replies)
            return replies
        self._metrics.batch(len(commands), replies)
        if any(isinstance(r, ShowCancellation) for r in replies):
            self._step_down("cancelled")
        return replies

    def _stage(self, events: list[Event], extras: CommitExtras | None = None, close_show: bool = False) -> _Staged:
        """Queue a batch's changes for the next transaction (called under the execution lock, so staging
        order is execution order)."""
        staged = _Staged(events, extras or CommitExtras(), close_show, self._generation)
        self._staged.append(staged)
        return staged

    async def _flush(self, staged: _Staged) -> BookingError | None:
        """Wait until ``staged`` is committed (or failed); commit everything staged so far, in one
        transaction, if no one else is doing it. Returns the error to answer with."""
        async with self._commit_lock:
            if staged.outcome is _PENDING:
                group, self._staged = self._staged, []
                events = [e for g in group for e in g.events]
                started = time.perf_counter()
                failure = (
                    await self._commit(events, _merged(g.extras for g in group), any(g.close_show for g in group))
                    if events or any(g.close_show for g in group)
                    else None
                )
                self._stats["commit_seconds"] += time.perf_counter() - started
                for g in group:
                    g.outcome = failure
                if failure is not None:
                    # Batches staged meanwhile on the same seat map ran on top of what just failed.
                    doomed = [g for g in self._staged if g.generation == group[0].generation]
                    self._staged = [g for g in self._staged if g.generation != group[0].generation]
                    for g in doomed:
                        g.outcome = failure
        assert not isinstance(staged.outcome, _Pending)
        return staged.outcome

    def _execute(self, seat_map: SeatMap, command: Command, extras: CommitExtras) -> Reply:
        if isinstance(command, HoldSeats | HoldBestAvailable | ConfirmHolds):
            replay = self._replay(command)
            if replay is not None:
                return replay
        match command:
            case HoldSeats(user_id=user, seat_ids=seat_ids, cap_exempt=cap_exempt):
                hold = seat_map.hold(user, seat_ids, cap_exempt=cap_exempt)
                self._wake.set()
                self._remember(extras, command, hold, 201, hold_answer)
                return hold
            case HoldBestAvailable(user_id=user, count=count, category=category, section=section):
                hold = seat_map.hold_best(user, count, category, section)
                self._wake.set()
                self._remember(extras, command, hold, 201, hold_answer)
                return hold
            case ReleaseHold(user_id=user, hold_id=hold_id):
                return seat_map.release(user, hold_id)
            case ExtendHold(user_id=user, hold_id=hold_id):
                return seat_map.extend(user, hold_id)
            case PreparePayment(user_id=user):
                return self._payable_holds(seat_map, user)
            case BeginPayment(user_id=user, hold_ids=hold_ids):
                payment = seat_map.begin_payment(user, hold_ids)
                if not payment.resumed:
                    extras.payment_origins[payment.payment_key] = PaymentOrigin(
                        command.customer_name, command.idempotency_key, command.request_hash
                    )
                self._wake.set()
                return payment
            case AbortPayment(payment_key=key, outcome=outcome):
                seat_map.abort_payment(key, outcome)
                self._wake.set()
                return Done()
            case ConfirmHolds():
                booking = seat_map.confirm(command.user_id, command.hold_ids, payment_key=command.payment_key)
                if command.payment_ref is not None:
                    extras.payment_refs[booking.booking_id] = command.payment_ref
                if command.customer_name is not None:
                    extras.box_office[booking.booking_id] = command.customer_name
                self._remember(extras, command, booking, 200, lambda b: booking_answer(b, command.customer_name))
                return booking
            case CancelBooking(user_id=user, booking_id=booking_id):
                return seat_map.cancel(user, booking_id)
            case CancelShow():
                return ShowCancellation(tuple(seat_map.cancel_show()))
            case BlockSeats(seat_ids=seat_ids):
                seat_map.block(seat_ids)
                return Done()
            case UnblockSeats(seat_ids=seat_ids):
                seat_map.unblock(seat_ids)
                return Done()
            case CheckIn(booking_id=booking_id, gate=gate, direction=direction, at=at, offline=offline):
                assert self._door is not None  # made with the seat map
                if direction == "out":
                    return self._door.check_out(booking_id, gate)
                return self._door.check_in(booking_id, gate, at=at, offline=offline)
        raise AssertionError(f"unknown command {command!r}")

    @staticmethod
    def _payable_holds(seat_map: SeatMap, user: str) -> HeldHolds:
        """The caller's live holds; whether a missing hold expired or never existed is the API's to
        tell from the stored rows."""
        holds = seat_map.holds_of(user)
        if not holds:
            raise HoldNotFound("")
        return HeldHolds(tuple(holds))

    def _remember(
        self,
        extras: CommitExtras,
        command: HoldSeats | HoldBestAvailable | ConfirmHolds,
        reply: R,
        status_code: int,
        render: Callable[[R], dict[str, Any]],
    ) -> None:
        """Record the answer to a request with an ``Idempotency-Key``: it commits with the change, and
        until then (and after) a retry of the same request in this activation gets it too (``_replay``)."""
        if command.idempotency_key is not None and command.request_hash is not None:
            response = render(reply)  # only for keyed requests: most holds carry no key
            extras.answers.append(
                IdempotentAnswer(command.user_id, command.idempotency_key, command.request_hash, status_code, response)
            )
            if len(self._answered) >= MAX_REMEMBERED_ANSWERS:
                del self._answered[next(iter(self._answered))]
            self._answered.pop((command.user_id, command.idempotency_key), None)  # newest last: oldest go first
            self._answered[(command.user_id, command.idempotency_key)] = (command.request_hash, reply, self._clock())

    def _replay(self, command: HoldSeats | HoldBestAvailable | ConfirmHolds) -> Reply | None:
        """The answer this activation already gave to the same request under the same key, if any.

        A client whose request timed out (503: outcome unknown) retries with its key; the API freed the
        key, so the retry reaches the show as a new command, possibly while the first still waits in the
        mailbox. Run again it would be refused (the seats are taken, by the same customer); replayed it
        gets the first answer, as a replay from the stored keys would. The remembered answers belong to
        the seat map they ran on: a reload (new generation) forgets them, and a replay staged behind its
        original fails with it if that commit fails. Past the key's lifetime nothing is replayed."""
        if command.idempotency_key is None or command.request_hash is None:
            return None
        found = self._answered.get((command.user_id, command.idempotency_key))
        if found is None or found[0] != command.request_hash:
            return None
        if self._clock() - found[2] >= self.config.idempotency_key_ttl_seconds:
            return None  # the key's lifetime is over: the same request runs anew, as the API lets it
        return found[1]

    async def _commit(
        self, events: list[Event], extras: CommitExtras | None = None, close_show: bool = False
    ) -> BookingError | None:
        """Commit or roll the seat map back to PostgreSQL's truth. Returns the error to answer with."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                self._store.commit(self.show_id, self._epoch, events, extras, close_show),
                timeout=self.config.db_timeout_seconds * 2,
            )
        except StaleEpoch as exc:
            log.warning("show %s: epoch %d superseded by %d; fencing this copy", self.show_id, exc.mine, exc.current)
            self._fenced = True
            self._map = None
            self._on_gone(self, "fenced")
            return exc
        except Exception as exc:
            log.warning("show %s: commit failed (%r); reloading from PostgreSQL", self.show_id, exc)
            self._map = None
            self._stats["reloads"] += 1
            await self._store.discard_connection()
            return Unavailable("the booking database did not confirm the change; retry", 2)
        self._stats["commits"] += 1
        self._publisher.committed(events)
        self._metrics.committed(events, time.perf_counter() - started)
        return None

    # -- timers -------------------------------------------------------------------------------------

    async def _expiry_loop(self) -> None:
        """Frees expired holds soon after they expire, and closes sales when the show starts. The entity
        stays for the door (check-ins, ``actors/door.py``) until it passivates like any idle show."""
        while not self.gone:
            seat_map = self._map
            if seat_map is None:
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    async with self._lock:
                        await self._ready_map()
                continue
            now = utc_now()
            deadlines = [] if self._sales_over else [seat_map.rules.starts_at]
            next_expiry = seat_map.next_expiry()
            if next_expiry is not None:
                deadlines.append(next_expiry)
            delay = max(0.0, (min(deadlines) - now).total_seconds()) if deadlines else 60.0
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 60.0) + 0.01)
            async with self._lock:
                seat_map = self._map
                if seat_map is None:
                    continue
                if not self._sales_over and utc_now() >= seat_map.rules.starts_at:
                    seat_map.close_sales()
                    staged = self._stage(seat_map.drain_events(), close_show=True)
                    closing = True
                elif seat_map.expire_due():
                    staged = self._stage(seat_map.drain_events())
                    closing = False
                else:
                    continue
            failure = await self._flush(staged)
            if closing and failure is None:
                self._sales_ended()
            # On a failure the seat map was reloaded (or this copy fenced): the loop tries again.

    def _sales_ended(self) -> None:
        """The show started: its sales are closed and committed. Nothing of the seat map changes any more,
        so its live state leaves Redis (readers fall back to PostgreSQL's final map); the entity serves the
        door until it is idle long enough to passivate."""
        self._sales_over = True
        self._drop_task = asyncio.get_running_loop().create_task(self._drop_live_state())
        log.info("show %s started: sales closed, serving the door", self.show_id)

    def _step_down(self, why: str) -> None:
        """The show is over (started or cancelled): stop serving, drop its live state from Redis, leave
        for good. Readers fall back to PostgreSQL, which has the final seat map."""
        self._retired = True
        self._drop_task = asyncio.get_running_loop().create_task(self._drop_live_state())
        log.info("show %s %s: sales closed, actor retiring", self.show_id, why)
        asyncio.get_running_loop().call_later(1.0, self._on_gone, self, "retired")

    async def _drop_live_state(self) -> None:
        """Stop publishing and delete the show's Redis state (the publisher's own loop then ends)."""
        await self._publisher.drop()

    # -- passivation --------------------------------------------------------------------------------

    @property
    def sales_over(self) -> bool:
        """The show started and its sales closing is committed: only the door is served from here on."""
        return self._sales_over

    @property
    def gone(self) -> bool:
        """Retired, fenced or stopped: this entity will never serve again."""
        return self._retired or self._fenced or self._stopped or self._moved

    @property
    def busy(self) -> bool:
        """A batch is running, waiting for the mailbox, or staged for its commit."""
        return bool(self._running or self._staged or self._lock.locked())

    def idle_for(self) -> float:
        """Seconds since the show was last in use: since the last batch arrived, or since its sales
        opened if that is later (a show activated ahead of its opening, by the pre-warmer or an early
        request, waits for the crowd instead of passivating before it arrives); 0 before the opening."""
        idle = self._clock() - self.last_used
        seat_map = self._map
        opens = seat_map.rules.sales_open_at if seat_map is not None else None
        if opens is not None:
            idle = min(idle, (utc_now() - opens).total_seconds())
        return max(0.0, idle)

    def payment_in_flight(self) -> bool:
        """A hold is being paid for: the gateway's answer will come back to this entity's seat map."""
        seat_map = self._map
        return seat_map is not None and seat_map.payment_in_flight()

    def hold_expires_within(self, seconds: float) -> bool:
        """Whether a stored hold expires within ``seconds`` (or already has): its timer should fire here.
        Passivated, the show would release it only when woken again, and the pre-warmer that wakes shows
        for expiring holds pings each show once per lead: a show it woke for its first expiring hold and
        that then passivated kept its later ones active in PostgreSQL past their expiry."""
        next_expiry = self._map.next_expiry() if self._map is not None else None
        return next_expiry is not None and next_expiry <= utc_now() + timedelta(seconds=seconds)

    async def passivate(self, min_idle_seconds: float) -> bool:
        """Stop cleanly if not busy, idle for ``min_idle_seconds`` (0: whatever its idle time, to make
        room), no hold expiring within that idle period (then its timer fires first; making room goes
        ahead, the pre-warmer wakes the show for it) and no payment in flight; True if stopped.

        Everything this entity acknowledged is already committed (replies wait for their commit) and
        nothing is staged, so stopping loses nothing. Batches that were waiting for the lock get
        ``EntityStopped`` and their host sends them to a fresh activation."""
        if (
            self.gone
            or self.busy
            or not self._activation.done()
            or (min_idle_seconds and self.idle_for() < min_idle_seconds)
            or (min_idle_seconds and self.hold_expires_within(min_idle_seconds))
            or self.payment_in_flight()
        ):
            return False
        async with self._lock:
            if self.gone or self._staged or self.payment_in_flight():
                return False
            self._stopped = True
        await self.close()
        log.info("show %s passivated at epoch %d", self.show_id, self._epoch)
        return True

    async def hand_over(self) -> int | None:
        """Stop serving here so that the show can move (to an actor of its own): commit what is staged,
        then stop, busy or not and whatever payment is in flight (the next activation reloads pending
        payments from PostgreSQL, as after a crash, and the gateway's answer goes there). Returns the epoch
        this copy served at, for the move to be recorded under, or None if it cannot serve any more (gone,
        never activated, or its last commit failed). Batches waiting for the mailbox get ``EntityStopped``,
        having run nothing."""
        async with self._lock:
            if self.gone or self._map is None:
                return None
            if self._staged and await self._flush(self._staged[-1]) is not None:
                return None
            if self._map is None:
                return None
            self._stopped = True
        await self.close()
        log.info("show %s handed over at epoch %d", self.show_id, self._epoch)
        return self._epoch

    async def place(self, own_actor: bool) -> bool:
        """Record where the show runs from now on, under the epoch this copy served at (``hand_over`` or
        ``passivate`` first): a superseded copy moves nothing."""
        return await self._store.place(self.show_id, self._epoch, own_actor)

    async def close(self) -> None:
        """Stop the timers and the publisher (after it sent what is queued); closes nothing shared."""
        self._stopped = True
        self._wake.set()
        for task in (self._timer, self._activation):
            task.cancel()
        await self._publisher.stop()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._publish_task
        for task in (self._timer, self._activation):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # -- read side ----------------------------------------------------------------------------------

    async def _locked_snapshot(self) -> dict[str, Any] | None:
        """Taken under the execution lock once everything staged is committed, so a snapshot never shows
        a change that is not durable (batches wait for at most one commit meanwhile)."""
        async with self._lock:
            if self._staged:
                await self._flush(self._staged[-1])
            started = time.perf_counter()
            snapshot = self._snapshot()
            self._stats["snapshot_seconds"] += time.perf_counter() - started
            return snapshot

    def _snapshot(self) -> dict[str, Any] | None:
        seat_map = self._map
        if seat_map is None:
            return None
        held, booked, blocked = seat_map.published()
        return {
            "epoch": self._epoch,
            "sales_closed": seat_map.sales_closed or self._retired,
            "held": held,
            "booked": booked,
            "blocked": blocked,
        }

    def _places_inside(self) -> int:
        return 0 if self._door is None else self._door.places_inside()

    def _gauge_reading(self) -> tuple[int, dict[str, int]] | None:
        """Live holds and seats by status, for the metrics gauges (read at most once a second)."""
        seat_map = self._map
        if seat_map is None:
            return None
        return len(seat_map.live_holds()), {k.value: v for k, v in seat_map.counts().items()}

    async def ping(self) -> dict[str, Any]:
        """Liveness and a few figures for operators and tests (epoch, counts, batches); activates first."""
        seat_map = await self._ready_map()
        return {
            "show_id": self.show_id,
            "epoch": self._epoch,
            "activation_seconds": self._activated_at,
            "counts": {k.value: v for k, v in seat_map.counts().items()},
            "live_holds": len(seat_map.live_holds()),
            **self._stats,
        }
