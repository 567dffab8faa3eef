"""The stand-in's publisher confirms what it publishes, as a Go producer must (against the real RabbitMQ)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit, urlunsplit

import pytest
from kombu import Connection

from devtools.standin.publisher import EventPublisher
from tests.events.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.broker


def drain(bus) -> list[int]:
    """Every message on the bus's queue, taken off it: the ``n`` of each body."""
    numbers = []
    with Connection(bus.broker_url) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(bus.queue, no_ack=True)) is not None:
            numbers.append(json.loads(message.body)["n"])
    return numbers


def publish(publisher: EventPublisher, numbers) -> None:
    for n in numbers:
        publisher.publish_raw(json.dumps({"n": n}).encode(), routing_key="payment.created")


def test_closing_waits_until_the_broker_confirmed_every_message(bus):
    bus.declare_topology()
    publisher = EventPublisher(bus.broker_url, bus.exchange, window=500)
    publish(publisher, range(5_000))
    assert len(publisher._pending) <= 500  # never more in flight than the window
    publisher.close()
    assert not publisher._pending
    assert sorted(drain(bus)) == list(range(5_000))


def test_messages_lost_with_the_connection_are_published_again(bus):
    """Messages written into a connection that then breaks never reached the broker."""
    bus.declare_topology()
    broker = urlsplit(bus.broker_url)
    proxy = CuttableProxy(broker.hostname or "127.0.0.1", broker.port or 5672)
    credentials = broker.netloc.rsplit("@", 1)[0] + "@" if "@" in broker.netloc else ""
    via_proxy = urlunsplit(broker._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}"))
    try:
        publisher = EventPublisher(via_proxy, bus.exchange, window=5_000)
        publish(publisher, range(1_500))
        proxy.discard()  # the next 300 are sent into a connection that loses them
        publish(publisher, range(1_500, 1_800))
        in_flight = len(publisher._pending)
        assert in_flight >= 300
        proxy.cut()
        proxy.restore()
        publish(publisher, range(1_800, 3_000))
        publisher.close()
    finally:
        proxy.close()
    assert proxy.connections >= 2, "the publisher did not reconnect"
    received = drain(bus)
    assert set(received) == set(range(3_000)), "a message was lost with the connection"
    # Republished messages may arrive twice (the consumer deduplicates); no more than were in flight.
    assert len(received) - 3_000 <= in_flight
