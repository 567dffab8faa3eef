"""Publishes events the way a Go producer does: plain AMQP 0-9-1, JSON bodies, no Celery.

:class:`EventFile` writes the same messages to a JSON Lines file instead (the
demo's seed: the portal loads it with ``manage.py events ingest-file``).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Producer, Queue

EVENT_CONTENT_TYPE = "application/cloudevents+json"


def encode_event(event: dict[str, Any]) -> bytes:
    """An event's body as a Go producer sends it: compact UTF-8 JSON."""
    return json.dumps(event, separators=(",", ":")).encode()


class EventSink:
    """Where the stand-in's events go: a broker (:class:`EventPublisher`) or a file (:class:`EventFile`).

    Each subclass writes the encoded body with ``publish_raw``.
    """

    def publish(self, event: dict[str, Any]) -> None:
        self.publish_raw(
            encode_event(event), routing_key=event["type"], content_type=EVENT_CONTENT_TYPE
        )


class PublishNotConfirmed(Exception):
    """The broker did not confirm every message in time (they may or may not have arrived)."""


@dataclass(frozen=True, slots=True)
class _Pending:
    body: bytes
    routing_key: str
    content_type: str
    headers: dict[str, Any]


class EventPublisher(EventSink):
    """Publishes to a durable topic exchange with the event type as routing key.

    Messages are persistent and confirmed by RabbitMQ the way a Go producer
    does it: the channel is in confirm mode, up to ``window`` messages are in
    flight unconfirmed, and ``flush()`` (called by ``close()``) waits until the
    broker has confirmed every one. A message the broker nacks, or one in flight
    when the connection is lost, is published again on a new channel (the
    consumer deduplicates). ``window=1`` waits for each message's confirm.

    Without confirms RabbitMQ promises nothing: measured here, a bulk publish of
    21,000 messages that closed its connection right after the last one lost the
    last 5 or so about one run in eight while consumers loaded the machine
    (``docs/events.md``).
    """

    def __init__(
        self,
        url: str,
        exchange: str = "events",
        *,
        window: int = 1,
        confirm_timeout: float = 60.0,
        virtual_bindings: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.exchange = Exchange(exchange, type="topic", durable=True)
        self.window = max(window, 1)
        self.confirm_timeout = confirm_timeout
        self._connection = Connection(url)
        self._confirming = self._connection.transport.driver_type == "amqp"
        self._pending: dict[int, _Pending] = {}  # by the channel's publish sequence number
        self._sequence = 0
        self._nacked: list[_Pending] = []
        self._open_channel()
        if virtual_bindings and not self._confirming:
            self._declare_virtual_bindings(virtual_bindings)

    def _open_channel(self) -> None:
        self._connection.ensure_connection(max_retries=10, interval_start=0.2)
        channel = self._connection.channel()
        self._producer = Producer(channel, exchange=self.exchange)
        self.exchange(channel).declare()
        self._sequence = 0
        if self._confirming:
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)

    def _declare_virtual_bindings(self, bindings: dict[str, tuple[str, ...]]) -> None:
        """Only for kombu's virtual transports (the demo's SQL broker).

        They keep exchange bindings in each process's memory, so a publisher in
        another process than the consumer would route to nowhere. RabbitMQ
        needs none of this: the portal declares its own queue there.
        """
        channel = self._producer.channel
        for queue_name, keys in bindings.items():
            queue = Queue(queue_name, durable=True)
            queue(channel).declare()
            for key in keys:
                channel.queue_bind(queue_name, self.exchange.name, routing_key=key)

    def _settled(self, delivery_tag: int, multiple: bool) -> list[_Pending]:
        if not multiple:
            message = self._pending.pop(delivery_tag, None)
            return [message] if message is not None else []
        tags = [tag for tag in self._pending if tag <= delivery_tag]
        return [self._pending.pop(tag) for tag in tags]

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settled(delivery_tag, multiple)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked.extend(self._settled(delivery_tag, multiple))

    def publish_raw(
        self,
        body: bytes,
        *,
        routing_key: str,
        content_type: str = "application/json",
        headers: dict[str, Any] | None = None,
    ) -> None:
        self._send(_Pending(body, routing_key, content_type, headers or {}))
        if self._confirming:
            self._wait_for_confirms(self.window - 1)

    def _send(self, message: _Pending) -> None:
        for attempt in range(10):
            try:
                self._producer.publish(
                    message.body,
                    routing_key=message.routing_key,
                    exchange=self.exchange,
                    content_type=message.content_type,
                    content_encoding="utf-8",
                    delivery_mode=2,
                    headers=message.headers,
                )
                break
            except self._connection.recoverable_connection_errors:
                if attempt == 9:
                    raise
                self._reconnect()
        if self._confirming:
            self._sequence += 1
            self._pending[self._sequence] = message

    def _reconnect(self) -> None:
        """A new connection and channel; what was in flight unconfirmed is published again."""
        unconfirmed = list(self._pending.values())
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._connection.close()
        self._connection = self._connection.clone()
        self._open_channel()
        for message in unconfirmed:
            self._send(message)

    def _wait_for_confirms(self, allowed: int) -> None:
        """Read the broker's confirms until at most ``allowed`` messages are unconfirmed."""
        deadline = time.monotonic() + self.confirm_timeout
        while len(self._pending) > allowed or self._nacked:
            if self._nacked:
                nacked, self._nacked = self._nacked, []
                for message in nacked:
                    self._send(message)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(
                    f"{len(self._pending)} messages unconfirmed after {self.confirm_timeout:.0f}s"
                )
            try:
                self._connection.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                continue
            except self._connection.recoverable_connection_errors:
                self._reconnect()

    def flush(self) -> None:
        """Wait until the broker has confirmed every message published so far."""
        if self._confirming:
            self._wait_for_confirms(0)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._connection.release()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:
            self._connection.release()
        else:
            self.close()


class EventFile(EventSink):
    """Writes each message it is given to a JSON Lines file instead of a broker.

    One line per message: ``{"routing_key", "content_type", "headers", "body"}``
    with ``body`` the exact body :class:`EventPublisher` would publish, as a
    string (docs/events.md, "Loading events from a file"). The file appears
    under its name only when closed without an error, so a half-written seed
    is never taken for a whole one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = path.with_name(path.name + ".partial")
        self._file = self._partial.open("w", encoding="utf-8")

    def publish_raw(
        self,
        body: bytes,
        *,
        routing_key: str,
        content_type: str = "application/json",
        headers: dict[str, Any] | None = None,
    ) -> None:
        line = {
            "routing_key": routing_key,
            "content_type": content_type,
            "headers": headers or {},
            "body": body.decode(),
        }
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self.count += 1

    def close(self, *, complete: bool = True) -> None:
        self._file.close()
        if complete:
            self._partial.replace(self.path)
        else:
            os.unlink(self._partial)

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self.close(complete=exc_type is None)
