"""The event intake: consumes the Go services' events from RabbitMQ in batches.

It runs inside the Celery worker (``apps.events.worker.EventIntakeStep`` starts
it on a thread of the worker's main process), so ``celery -A portal worker``
runs the portal's tasks and the intake together. It has its own broker
connection — the Go services may publish to another broker
(``EVENTS_BROKER_URL``) — and its own database connection, kept open
deliberately (Celery closes connections around tasks; the intake is not a
task).

Topology (declared idempotently at start):

- exchange ``EVENTS_EXCHANGE`` (topic, durable) — the Go services publish here;
- queue ``EVENTS_QUEUE``: a quorum queue (replicated in a cluster) bound with
  ``account.*``, ``payment.*`` and ``refund.*``, with a delivery limit and a
  dead-letter exchange, so a message that crashes the consumer process itself
  cannot loop forever;
- ``<queue>.parked``: where RabbitMQ puts such a message; the intake drains it
  into the dead-letter table, so nothing is dropped silently.

Messages are buffered up to ``EVENTS_BATCH_SIZE`` or ``EVENTS_FLUSH_SECONDS``,
applied in one transaction (``apps.events.services.apply_event_batch``) and
acknowledged only after the commit. Any number of intakes (threads, worker
processes, machines) may consume the one queue: the batch transaction
serialises work per aggregate inside PostgreSQL.

While the database is down the intake *holds* its batch, retrying with
backoff, for at most ``EVENTS_MAX_HOLD_SECONDS``; nothing is acknowledged and
the prefetch limit stops RabbitMQ from sending more meanwhile. After the hold
it *pauses*: it closes its broker connection (RabbitMQ gives the unacknowledged
messages back to the queue, for another worker that can reach its database),
reports itself unhealthy (``health()``), probes the database with backoff, and
consumes again by itself when the database answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection
from kombu import Connection, Consumer, Exchange, Queue, binding
from kombu.message import Message

from apps.events.amqp import transport_for
from apps.events.schema import fingerprint
from apps.events.services import (
    IncomingMessage,
    apply_event_batch,
    keep_dead_letter,
    touch_heartbeat,
)

logger = logging.getLogger(__name__)

BINDING_KEYS = ("account.*", "payment.*", "refund.*")
HANDLER_ATTEMPTS = 3
LOCK_TABLE_FULL = "53200"  # SQLSTATE out_of_memory: PostgreSQL's shared lock table is full


def _lock_table_full(error: Exception) -> bool:
    """PostgreSQL could not take the batch's aggregate locks: too many held at once, server-wide."""
    return getattr(error.__cause__, "sqlstate", None) == LOCK_TABLE_FULL


@dataclass(frozen=True)
class IntakeConfig:
    broker_url: str
    exchange: str
    queue: str
    batch_size: int = 1000
    flush_seconds: float = 0.2
    delivery_limit: int = 20
    heartbeat_seconds: float = 5.0
    max_hold_seconds: float = 60.0

    @classmethod
    def from_settings(cls) -> IntakeConfig:
        return cls(
            broker_url=settings.EVENTS_BROKER_URL or settings.CELERY_BROKER_URL,
            exchange=settings.EVENTS_EXCHANGE,
            queue=settings.EVENTS_QUEUE,
            batch_size=settings.EVENTS_BATCH_SIZE,
            flush_seconds=settings.EVENTS_FLUSH_SECONDS,
            delivery_limit=settings.EVENTS_DELIVERY_LIMIT,
            max_hold_seconds=settings.EVENTS_MAX_HOLD_SECONDS,
        )


def topology(config: IntakeConfig, *, quorum: bool = True) -> tuple[Exchange, Queue, Queue]:
    """The exchange, the portal's queue and the parking queue for poison messages."""
    exchange = Exchange(config.exchange, type="topic", durable=True)
    parked_exchange = Exchange(f"{config.queue}.dlx", type="fanout", durable=True)
    quorum_args = {"x-queue-type": "quorum"} if quorum else {}
    parked = Queue(
        f"{config.queue}.parked",
        bindings=[binding(parked_exchange, routing_key="")],
        durable=True,
        queue_arguments=quorum_args,
    )
    live = Queue(
        config.queue,
        bindings=[binding(exchange, routing_key=key) for key in BINDING_KEYS],
        durable=True,
        queue_arguments={
            **quorum_args,
            **(
                {
                    "x-delivery-limit": config.delivery_limit,
                    "x-dead-letter-exchange": parked_exchange.name,
                }
                if quorum
                else {}
            ),
        },
    )
    return exchange, live, parked


def is_amqp(conn: Connection) -> bool:
    """RabbitMQ, as opposed to a virtual transport (the demo's SQL broker)."""
    return conn.transport.driver_type == "amqp"


def declare_topology(conn: Connection, channel, config: IntakeConfig) -> tuple[Queue, Queue]:
    """Declare everything idempotently; virtual transports know no queue arguments."""
    exchange, live, parked = topology(config, quorum=is_amqp(conn))
    exchange(channel).declare()
    live = live(channel)
    live.declare()
    parked = parked(channel)
    parked.declare()
    return live, parked


def _incoming(message: Message) -> IncomingMessage:
    return IncomingMessage(
        body=message.body if isinstance(message.body, bytes) else str(message.body).encode(),
        routing_key=message.delivery_info.get("routing_key", "") or "",
        content_type=message.content_type or "",
        headers=dict(message.headers or {}),
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message received and not yet acknowledged: what to apply, and its tag for the ack."""

    incoming: IncomingMessage
    tag: int


class DatabaseHoldExpired(Exception):
    """The database stayed unavailable for longer than the hold: give the messages back."""


class EventIntake:
    """One consumer loop. ``run()`` blocks until ``stop()`` is called."""

    def __init__(self, config: IntakeConfig, *, name: str | None = None) -> None:
        self.config = config
        self.name = name or self.default_name()
        self._stop = threading.Event()
        self._buffer: list[Delivery] = []
        self._channel: Any = None
        self._first_buffered_at = 0.0
        self._last_heartbeat = 0.0
        self._failures: dict[str, int] = {}
        self._multiple_ack = True
        self.ready = threading.Event()
        self.paused_since: float | None = None  # monotonic; set while paused for the database
        self.holding_since: float | None = None  # monotonic; set while holding a batch

    def health(self) -> tuple[bool, str]:
        """Healthy once consuming, unless paused because the database stayed away past the hold."""
        if not self.ready.is_set():
            return False, "starting: the queue is not consumed yet"
        if self.paused_since is not None:
            down = time.monotonic() - self.paused_since + self.config.max_hold_seconds
            return False, f"paused: the database has been unavailable for {down:.0f}s"
        if self.holding_since is not None:
            held = time.monotonic() - self.holding_since
            return True, f"holding a batch: the database has been unavailable for {held:.0f}s"
        return True, "consuming"

    @staticmethod
    def default_name() -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        delay = 1.0
        while not self.stopping:
            try:
                self._consume()
                delay = 1.0
            except DatabaseHoldExpired:
                # The broker connection is closed: RabbitMQ has the messages back.
                self._buffer.clear()
                self._wait_for_database()
            except Exception:  # broker lost or refused: unacked messages will be redelivered
                if self.stopping:
                    break
                logger.exception(
                    "event intake lost its broker connection; retrying in %.0fs", delay
                )
                self._buffer.clear()
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
        db_connection.close()

    def _wait_for_database(self) -> None:
        """Paused: consume nothing, probe the database with backoff, return once it answers."""
        self.paused_since = time.monotonic()
        logger.error(
            "event intake paused: the database stayed unavailable for more than %.0fs; "
            "its messages are back on the queue",
            self.config.max_hold_seconds,
        )
        delay = 1.0
        while not self.stopping:
            try:
                db_connection.close()
                db_connection.ensure_connection()
                break
            except (OperationalError, InterfaceError):
                self._stop.wait(delay)
                delay = min(delay * 2, 15.0)
        if not self.stopping:
            logger.warning("event intake resumes: the database answers again")
        self.paused_since = None

    def _consume(self) -> None:
        url = self.config.broker_url
        with Connection(url, heartbeat=30, transport=transport_for(url)) as conn:
            conn.ensure_connection(max_retries=3)
            channel = self._channel = conn.channel()
            live, parked = declare_topology(conn, channel, self.config)
            self._multiple_ack = is_amqp(conn)
            channel.basic_qos(0, self.config.batch_size * 2, False)
            with contextlib.ExitStack() as consumers:
                consumers.enter_context(
                    Consumer(channel, queues=[parked], on_message=self._on_parked, no_ack=False)
                )
                if self._multiple_ack:
                    # RabbitMQ: py-amqp's messages as they are (no kombu message objects), and
                    # whole buffered deliveries as plain calls (apps.events.amqp).
                    tag = f"portal-intake-{uuid.uuid4().hex}"
                    live.consume(consumer_tag=tag, callback=self._on_amqp_message, no_ack=False)
                    fast = getattr(conn.connection, "fast_deliveries", None)
                    if fast is not None:
                        fast[tag] = self._on_delivery
                else:
                    consumers.enter_context(
                        Consumer(channel, queues=[live], on_message=self._on_message, no_ack=False)
                    )
                logger.info(
                    "event intake consuming %s (batch %d, flush %.2fs)",
                    self.config.queue,
                    self.config.batch_size,
                    self.config.flush_seconds,
                )
                self.ready.set()
                while not self.stopping:
                    try:
                        conn.drain_events(timeout=self._wait_time())
                    except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
                        conn.heartbeat_check()
                    if self._flush_due():
                        self._flush(conn)
                    self._maybe_heartbeat()
                if self._buffer:
                    self._flush(conn)

    def _wait_time(self) -> float:
        if not self._buffer:
            return 1.0
        return max(self.config.flush_seconds - (time.monotonic() - self._first_buffered_at), 0.001)

    def _on_message(self, message: Message) -> None:
        """A kombu message (virtual transports: the demo's SQL broker)."""
        if not self._buffer:
            self._first_buffered_at = time.monotonic()
        self._buffer.append(Delivery(_incoming(message), message.delivery_tag))

    def _on_amqp_message(self, message: Any) -> None:
        """A py-amqp message (RabbitMQ, when its frames were not all buffered at once)."""
        self._on_delivery(
            message.delivery_tag,
            message.delivery_info.get("routing_key") or "",
            message.properties,
            message.body,
        )

    def _on_delivery(
        self, delivery_tag: int, routing_key: str, properties: dict[str, Any], body: bytes
    ) -> None:
        if not self._buffer:
            self._first_buffered_at = time.monotonic()
        self._buffer.append(
            Delivery(
                IncomingMessage(
                    body=body if isinstance(body, bytes) else str(body).encode(),
                    routing_key=routing_key,
                    content_type=properties.get("content_type") or "",
                    headers=dict(properties.get("application_headers") or {}),
                ),
                delivery_tag,
            )
        )

    def _flush_due(self) -> bool:
        if not self._buffer:
            return False
        return (
            len(self._buffer) >= self.config.batch_size
            or time.monotonic() - self._first_buffered_at >= self.config.flush_seconds
        )

    def _flush(self, conn: Connection) -> None:
        batch, self._buffer = self._buffer, []
        delay = 0.5
        while True:
            try:
                apply_event_batch([d.incoming for d in batch], consumer=self.name)
                break
            except (OperationalError, InterfaceError) as error:
                if _lock_table_full(error) and len(batch) > 1:
                    # Not an outage: the batch needs more locks than the server has free now.
                    # Apply its first half; the rest goes back to the front of the buffer (its
                    # tags are higher, so the multiple ack of the first half never covers it).
                    half = len(batch) // 2
                    logger.warning(
                        "PostgreSQL's lock table is full (%s); applying the batch of %d in halves. "
                        "Raise max_locks_per_transaction or lower EVENTS_BATCH_SIZE "
                        "(docs/events.md, More consumers)",
                        error,
                        len(batch),
                    )
                    batch, self._buffer = batch[:half], batch[half:] + self._buffer
                    continue
                # The database is unavailable: hold everything unacknowledged and try again.
                db_connection.close()
                now = time.monotonic()
                if self.holding_since is None:
                    self.holding_since = now
                remaining = self.config.max_hold_seconds - (now - self.holding_since)
                if remaining <= 0:
                    self.holding_since = None
                    raise DatabaseHoldExpired from error
                logger.warning(
                    "database unavailable (%s); retrying the batch in %.1fs", error, delay
                )
                if self._sleep_with_heartbeat(conn, min(delay, remaining)):
                    self.holding_since = None
                    self._buffer = batch + self._buffer
                    return
                delay = min(delay * 2, 10.0)
            except DatabaseError:
                self.holding_since = None
                db_connection.close()
                self._apply_one_by_one(batch)
                return
            except Exception:
                self.holding_since = None
                logger.exception(
                    "a batch of %d events failed; applying them one by one", len(batch)
                )
                close_old_connections()
                self._apply_one_by_one(batch)
                return
        self.holding_since = None
        # Committed: now, and only now, acknowledge.
        if self._multiple_ack:
            self._channel.basic_ack(batch[-1].tag, multiple=True)
        else:
            for delivery in batch:
                self._channel.basic_ack(delivery.tag)
        self._last_heartbeat = time.monotonic()

    def _apply_one_by_one(self, batch: list[Delivery]) -> None:
        """Find the message that breaks the handler; retry it a few times, then dead-letter it."""
        for delivery in batch:
            incoming = delivery.incoming
            try:
                apply_event_batch([incoming], consumer=self.name)
            except Exception as error:
                db_connection.close()
                key = fingerprint(incoming)
                attempts = self._failures.get(key, 0) + 1
                self._failures[key] = attempts
                if attempts < HANDLER_ATTEMPTS:
                    logger.warning("event handler failed (attempt %d): %s", attempts, error)
                    self._channel.basic_reject(delivery.tag, requeue=True)
                    continue
                self._failures.pop(key, None)
                keep_dead_letter(
                    message=incoming,
                    reason=f"the portal failed to apply it {attempts} times: "
                    f"{type(error).__name__}: {error}"[:2000],
                )
            self._channel.basic_ack(delivery.tag)

    def _on_parked(self, message: Message) -> None:
        incoming = _incoming(message)
        keep_dead_letter(
            message=incoming,
            reason="RabbitMQ parked it after too many deliveries (it crashed or stalled the consumer)",
        )
        message.ack()

    def _sleep_with_heartbeat(self, conn: Connection, seconds: float) -> bool:
        """Sleep, keeping the broker connection alive; True if asked to stop meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._stop.wait(min(1.0, deadline - time.monotonic())):
                return True
            conn.heartbeat_check()
        return False

    def _maybe_heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat < self.config.heartbeat_seconds:
            return
        self._last_heartbeat = time.monotonic()
        try:
            touch_heartbeat(consumer=self.name)
        except DatabaseError:
            db_connection.close()
