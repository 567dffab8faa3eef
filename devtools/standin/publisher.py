"""Publishes events the way a Go producer does: plain AMQP 0-9-1, JSON bodies, no Celery."""

from __future__ import annotations

import json
from typing import Any

from kombu import Connection, Exchange, Producer


class EventPublisher:
    """Publishes to a durable topic exchange with the event type as routing key.

    Messages are persistent and (unless ``confirm=False``, for bulk loads)
    confirmed by the broker; a lost connection is re-established and the
    publish retried (the consumer deduplicates).
    """

    def __init__(self, url: str, exchange: str = "events", *, confirm: bool = True) -> None:
        self.exchange = Exchange(exchange, type="topic", durable=True)
        options = {"confirm_publish": True} if confirm else {}
        self._connection = Connection(url, transport_options=options)
        self._producer = Producer(self._connection.channel(), exchange=self.exchange)
        self.exchange(self._producer.channel).declare()
        self._publish = self._connection.ensure(
            self._producer, self._producer.publish, max_retries=10, interval_start=0.2
        )

    def publish(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        self.publish_raw(
            body, routing_key=event["type"], content_type="application/cloudevents+json"
        )

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
