"""The intake's AMQP transport: kombu's py-amqp transport with a buffered socket reader.

py-amqp reads each frame with three exact-size ``recv`` calls (header,
payload, end octet) and sets the socket's timeout around every frame; a
delivered message is three frames, so that is nine system calls and six
timeout changes a message, and with two intake threads in one process each
``recv`` is also a hand-over of the GIL. This transport reads whatever the
socket holds, up to ``CHUNK`` bytes at a time, and cuts frames out of that
buffer; while the buffer holds a whole frame, a read touches neither the
socket nor its timeout. Everything above the frames (channels, consumers,
acknowledgements, heartbeats, errors) is py-amqp's and kombu's, unchanged.

One shortcut on top: a consumer registered in the connection's
``fast_deliveries`` (by consumer tag) gets each delivery whose three frames
(``Basic.Deliver``, content header, one body frame) are all buffered as a
plain call ``callback(delivery_tag, routing_key, properties, body)``, without
py-amqp's frame state machine, method dispatch and message objects — about a
third of what py-amqp spent on a message. Anything else (a delivery still
arriving, a body in several frames, every other method) takes py-amqp's path.

Only plain TCP: with TLS (``amqps://``, ``ssl``) py-amqp's own transport is
used.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Container
from struct import unpack_from
from typing import Any

from amqp.exceptions import UnexpectedFrame
from amqp.serialization import decode_properties_basic
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

CHUNK = 256 * 1024
FRAME_END = 206
_RETRY = (errno.EAGAIN, errno.EINTR)
_UNAVAILABLE = {errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK}
BASIC_DELIVER = (60, 60)  # AMQP 0-9-1: class basic, method deliver

# delivery_tag, routing_key, properties (content_type, headers, …), body
FastDelivery = Callable[[int, str, dict[str, Any], bytes], None]


class BufferedTCPTransport(TCPTransport):
    """py-amqp's TCP transport, reading the socket in chunks and frames from the buffer."""

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._buffer = bytearray()

    def frame_ready(self) -> bool:
        """Whether a whole frame is buffered (then reading it needs no system call)."""
        buffer = self._buffer
        if len(buffer) < 7:
            return False
        return len(buffer) >= unpack_from(">I", buffer, 3)[0] + 8

    def take_delivery(self, consumers: Container[str]) -> tuple[int, str, int, bytes, bytes] | None:
        """A whole delivery to one of ``consumers`` from the front of the buffer, or ``None``.

        Returns (channel, consumer tag, delivery tag, routing key and header
        payload, body) and removes its three frames; leaves the buffer as it
        was when the front is anything else, so py-amqp reads it frame by frame.
        """
        buffer = self._buffer
        available = len(buffer)
        if available < 12:
            return None
        kind, channel, size = unpack_from(">BHI", buffer)
        if kind != 1 or unpack_from(">HH", buffer, 7) != BASIC_DELIVER:
            return None
        header_at = size + 8
        if available < header_at + 7 or buffer[header_at - 1] != FRAME_END:
            return None
        tag_length = buffer[11]
        consumer_tag = buffer[12 : 12 + tag_length].decode()
        if consumer_tag not in consumers:
            return None
        kind, header_channel, header_size = unpack_from(">BHI", buffer, header_at)
        body_at = header_at + header_size + 8
        if kind != 2 or header_channel != channel or available < body_at + 7:
            return None
        body_size = unpack_from(">Q", buffer, header_at + 11)[0]
        kind, body_channel, frame_size = unpack_from(">BHI", buffer, body_at)
        end = body_at + frame_size + 8
        if (
            kind != 3
            or body_channel != channel
            or frame_size != body_size
            or available < end
            or buffer[body_at - 1] != FRAME_END
            or buffer[end - 1] != FRAME_END
        ):
            return None
        # After the consumer tag: delivery tag (8 octets), redelivered (1), exchange, routing key.
        offset = 12 + tag_length
        delivery_tag = unpack_from(">Q", buffer, offset)[0]
        offset += 9
        offset += 1 + buffer[offset]
        routing_key = buffer[offset + 1 : offset + 1 + buffer[offset]].decode()
        header = bytes(buffer[header_at + 7 : body_at - 1])
        body = bytes(buffer[body_at + 7 : end - 1])
        del buffer[:end]
        return channel, consumer_tag, delivery_tag, routing_key, header, body

    def _fill(self, initial: bool = False) -> None:
        while True:
            try:
                data = self.sock.recv(CHUNK)
            except TimeoutError:
                raise
            except OSError as error:
                if error.errno in _RETRY:
                    if initial and self.raise_on_initial_eintr:
                        raise TimeoutError() from error
                    continue
                if error.errno not in _UNAVAILABLE:
                    self.connected = False
                raise
            if not data:
                self.connected = False
                raise OSError("Server unexpectedly closed connection")
            self._buffer += data
            return

    def _read(self, n: int, initial: bool = False) -> bytes:
        """Exactly ``n`` bytes (py-amqp reads the connection's first bytes this way)."""
        buffer = self._buffer
        while len(buffer) < n:
            self._fill(initial)
        data = bytes(buffer[:n])
        del buffer[:n]  # O(1) at the front of a bytearray
        return data

    def read_frame(self, unpack: object = None) -> tuple[int, int, bytes]:
        """One frame; on a timeout nothing is consumed, so the next call starts over cleanly."""
        buffer = self._buffer
        while len(buffer) < 7:
            self._fill(initial=True)
        frame_type, channel, size = unpack_from(">BHI", buffer)
        end = 7 + size
        while len(buffer) <= end:
            self._fill()
        if buffer[end] != FRAME_END:
            self.connected = False
            raise UnexpectedFrame(f"Received frame_end {buffer[end]:#04x} while expecting 0xce")
        payload = bytes(buffer[7:end])
        del buffer[: end + 1]
        return frame_type, channel, payload


class _Connection(pyamqp.Connection):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_deliveries: dict[str, FastDelivery] = {}

    def Transport(
        self,
        host: str,
        connect_timeout: float | None,
        ssl: bool | dict = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        socket_settings: dict | None = None,
        **kwargs: object,
    ):
        if ssl:
            return super().Transport(
                host,
                connect_timeout,
                ssl=ssl,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                socket_settings=socket_settings,
                **kwargs,
            )
        return BufferedTCPTransport(
            host,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            socket_settings=socket_settings,
            **kwargs,
        )

    def blocking_read(self, timeout: float | None = None):
        transport = self.transport
        if isinstance(transport, BufferedTCPTransport):
            if self.fast_deliveries:
                delivery = transport.take_delivery(self.fast_deliveries)
                if delivery is not None:
                    self.bytes_recv += 3  # three frames: the heartbeat check counts them
                    _, consumer_tag, delivery_tag, routing_key, header, body = delivery
                    properties, _ = decode_properties_basic(header, 12)
                    self.fast_deliveries[consumer_tag](delivery_tag, routing_key, properties, body)
                    return True
            if transport.frame_ready():
                return self.on_inbound_frame(transport.read_frame())
        return super().blocking_read(timeout)


class IntakeTransport(pyamqp.Transport):
    """kombu's ``amqp://`` transport with :class:`BufferedTCPTransport` underneath."""

    Connection = _Connection


def transport_for(url: str) -> type[IntakeTransport] | None:
    """The buffered transport for a RabbitMQ URL; ``None`` (kombu's choice) for any other."""
    scheme = url.split("://", 1)[0]
    return IntakeTransport if scheme in {"amqp", "pyamqp"} else None
