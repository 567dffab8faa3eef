"""The intake's buffered AMQP frame reader: frames cut from chunks, nothing lost on a timeout."""

from __future__ import annotations

import socket
from struct import pack

import pytest
from amqp.basic_message import Message
from amqp.exceptions import UnexpectedFrame
from amqp.serialization import decode_properties_basic

from apps.events.amqp import BufferedTCPTransport, IntakeTransport, transport_for


def frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


@pytest.fixture
def wire():
    """A transport reading one end of a socket pair; the test writes the other end."""
    ours, theirs = socket.socketpair()
    transport = BufferedTCPTransport("127.0.0.1:5672", connect_timeout=1)
    transport.sock = ours
    transport._setup_transport()
    transport.connected = True
    yield transport, theirs
    ours.close()
    theirs.close()


def test_many_frames_in_one_chunk_come_out_one_by_one(wire):
    transport, peer = wire
    frames = [frame(1, 1, b"method"), frame(2, 1, b"header"), frame(3, 1, b"x" * 70_000)]
    peer.sendall(b"".join(frames))

    assert transport.read_frame() == (1, 1, b"method")
    assert transport.frame_ready()
    assert transport.read_frame() == (2, 1, b"header")
    assert transport.read_frame() == (3, 1, b"x" * 70_000)
    assert not transport.frame_ready()


def test_a_frame_split_by_a_timeout_is_read_whole_afterwards(wire):
    transport, peer = wire
    whole = frame(3, 2, b"body of the message")
    peer.sendall(whole[:10])
    transport.sock.settimeout(0.05)

    with pytest.raises(TimeoutError):
        transport.read_frame()
    assert not transport.frame_ready()
    peer.sendall(whole[10:])

    assert transport.read_frame() == (3, 2, b"body of the message")


def test_a_bad_frame_end_and_a_closed_peer_are_errors(wire):
    transport, peer = wire
    peer.sendall(frame(1, 0, b"ok")[:-1] + b"\x00")
    with pytest.raises(UnexpectedFrame):
        transport.read_frame()
    peer.close()
    transport._buffer.clear()
    with pytest.raises(OSError, match="closed"):
        transport.read_frame()
    assert not transport.connected


def test_only_plain_amqp_urls_get_the_buffered_transport():
    assert transport_for("amqp://guest:guest@127.0.0.1:5672//") is IntakeTransport
    assert transport_for("pyamqp://127.0.0.1//") is IntakeTransport
    assert transport_for("amqps://broker.example//") is None
    assert transport_for("sqla+postgresql+psycopg://postgres@/portal") is None


def short(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def delivery_frames(consumer_tag: str, delivery_tag: int, body: bytes, channel: int = 1) -> bytes:
    method = (
        pack(">HH", 60, 60)
        + short(consumer_tag)
        + pack(">Q", delivery_tag)
        + b"\x00"
        + short("events")
        + short("payment.updated")
    )
    properties = Message(
        content_type="application/cloudevents+json", application_headers={"x-retry": 2}
    )._serialize_properties()
    header = pack(">HHQ", 60, 0, len(body)) + properties
    return frame(1, channel, method) + frame(2, channel, header) + frame(3, channel, body)


def test_a_whole_delivery_to_a_registered_consumer_is_taken_in_one_piece(wire):
    transport, peer = wire
    frames = delivery_frames("intake-1", 41, b'{"id": "e1"}') + delivery_frames(
        "intake-1", 42, b'{"id": "e2"}'
    )
    peer.sendall(frames[:-5])
    transport._fill()

    channel, consumer, tag, routing_key, header, body = transport.take_delivery({"intake-1"})
    assert (channel, consumer, tag, routing_key, body) == (
        1,
        "intake-1",
        41,
        "payment.updated",
        b'{"id": "e1"}',
    )
    properties, _ = decode_properties_basic(header, 12)
    assert properties["content_type"] == "application/cloudevents+json"
    assert properties["application_headers"] == {"x-retry": 2}
    # The second one is not whole yet: left for later, nothing consumed.
    assert transport.take_delivery({"intake-1"}) is None
    peer.sendall(frames[-5:])
    transport._fill()
    assert transport.take_delivery({"other-consumer"}) is None
    assert transport.take_delivery({"intake-1"})[2] == 42
    assert not transport._buffer


def test_an_empty_body_or_a_body_in_two_frames_is_left_to_py_amqp(wire):
    """RabbitMQ sends no body frame for an empty body and splits a body over frame_max."""
    transport, peer = wire
    whole = delivery_frames("intake-1", 7, b"abcdef")
    method_and_header = whole[: -len(frame(3, 1, b"abcdef"))]
    empty = delivery_frames("intake-1", 5, b"")
    empty = empty[: -len(frame(3, 1, b""))]  # deliver + header (body size 0), no body frame
    split = method_and_header + frame(3, 1, b"abc") + frame(3, 1, b"def")
    peer.sendall(empty + split + delivery_frames("intake-1", 8, b"next"))
    transport._fill()
    while len(transport._buffer) < len(empty) + len(split) + 40:
        transport._fill()

    # The empty one: its "body" would be the next delivery's method frame.
    assert transport.take_delivery({"intake-1"}) is None
    assert [transport.read_frame()[0] for _ in range(2)] == [1, 2]
    # The split one: the body frame is shorter than the header's body size.
    assert transport.take_delivery({"intake-1"}) is None
    assert [transport.read_frame() for _ in range(4)][2:] == [(3, 1, b"abc"), (3, 1, b"def")]
    # Nothing was consumed on the way: the next whole delivery is taken as usual.
    _, _, tag, _, _, body = transport.take_delivery({"intake-1"})
    assert (tag, body) == (8, b"next")
    assert not transport._buffer
