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

Only plain TCP: with TLS (``amqps://``, ``ssl``) py-amqp's own transport is
used.
"""

from __future__ import annotations

import errno
from struct import unpack_from

from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

CHUNK = 256 * 1024
FRAME_END = 206
_RETRY = (errno.EAGAIN, errno.EINTR)
_UNAVAILABLE = {errno.EAGAIN, errno.EINTR, errno.ENOENT, errno.EWOULDBLOCK}


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
        if isinstance(transport, BufferedTCPTransport) and transport.frame_ready():
            return self.on_inbound_frame(transport.read_frame())
        return super().blocking_read(timeout)


class IntakeTransport(pyamqp.Transport):
    """kombu's ``amqp://`` transport with :class:`BufferedTCPTransport` underneath."""

    Connection = _Connection


def transport_for(url: str) -> type[IntakeTransport] | None:
    """The buffered transport for a RabbitMQ URL; ``None`` (kombu's choice) for any other."""
    scheme = url.split("://", 1)[0]
    return IntakeTransport if scheme in {"amqp", "pyamqp"} else None
