"""Publishes events the way a Go producer does: plain AMQP 0-9-1, JSON bodies, no Celery.

:class:`EventFile` writes the same messages to a JSON Lines file instead (the
demo's seed: the portal loads it with ``manage.py events ingest-file``).
"""

from __future__ import annotations

import json
import os
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


class EventPublisher(EventSink):
    """Publishes to a durable topic exchange with the event type as routing key.

    Messages are persistent and (unless ``confirm=False``, for bulk loads)
    confirmed by the broker; a lost connection is re-established and the
    publish retried (the consumer deduplicates).
    """

    def __init__(
        self,
        url: str,
        exchange: str = "events",
        *,
        confirm: bool = True,
        virtual_bindings: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.exchange = Exchange(exchange, type="topic", durable=True)
        amqp = url.split("://", 1)[0] in {"amqp", "amqps", "pyamqp"}
        options = {"confirm_publish": True} if confirm and amqp else {}
        self._connection = Connection(url, transport_options=options)
        self._producer = Producer(self._connection.channel(), exchange=self.exchange)
        self.exchange(self._producer.channel).declare()
        if virtual_bindings and self._connection.transport.driver_type != "amqp":
            self._declare_virtual_bindings(virtual_bindings)
        self._publish = self._connection.ensure(
            self._producer, self._producer.publish, max_retries=10, interval_start=0.2
        )

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

    def publish_raw(
        self,
        body: bytes,
        *,
        routing_key: str,
        content_type: str = "application/json",
        headers: dict[str, Any] | None = None,
    ) -> None:
        self._publish(
            body,
            routing_key=routing_key,
            exchange=self.exchange,
            content_type=content_type,
            content_encoding="utf-8",
            delivery_mode=2,
            headers=headers or {},
            retry=True,
        )

    def close(self) -> None:
        self._connection.release()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
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
