"""Contract messages in a JSON Lines file, as ``manage.py events ingest-file`` reads them.

One message a line, as a producer would have published it::

    {"routing_key": "payment.created", "content_type": "application/cloudevents+json",
     "headers": {}, "body": "{\\"specversion\\":\\"1.0\\", …}"}

``body`` is the message's body as a string (the UTF-8 JSON a producer puts on
the wire, byte for byte); the other fields are optional. The Go stand-in's
``seed --events-out`` writes such files. Whether a body is a valid event is
not decided here: the intake's own parser does that, as for a message from
RabbitMQ. A line that is not such an object at all is a :class:`BadLine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

# Where a message came from, kept with it in the dead-letter table if it is malformed.
LINE_HEADER = "x-portal-ingest-line"


class FileMessage(msgspec.Struct):
    """One line: a message as a producer published it (other fields are ignored)."""

    body: str
    routing_key: str = ""
    content_type: str = ""
    headers: dict[str, Any] = {}


_decode_line = msgspec.json.Decoder(FileMessage).decode


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that is not a message object; kept as a dead letter, with its number in the reason."""

    number: int
    raw: bytes
    problem: str


def read_message_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, FileMessage | BadLine]]:
    """Each non-blank line's number (from 1) and its message, or what is wrong with the line."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            yield number, _decode_line(stripped)
        except msgspec.DecodeError as error:
            yield number, BadLine(number, stripped, _readable(error))


def _readable(error: msgspec.DecodeError) -> str:
    text = str(error)
    if text.startswith("JSON is malformed") or "invalid character" in text:
        return f"not JSON ({text})"
    return f'not a message object {{"body": "…", "routing_key": …}} ({text})'
