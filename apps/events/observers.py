"""Who learns of what a batch changed, without the intake importing them.

The intake (``apps.events``) sits below the workflow apps: it must not import
``apps.approvals``, yet refund and freeze requests are settled by the events
it applies. A workflow app registers an observer in its ``AppConfig.ready()``
(as the shell's ``apps.home.registry`` does for badges and panels)::

    from apps.events import observers

    observers.register("approvals.settle", settle_from_applied_events)

Each observer is called once per batch transaction, inside it, with the
events that changed their subjects: ``{kind: {subject id: the batch's winning
event}}`` (``kind`` is ``"account"``, ``"payment"`` or ``"refund"``). What it
writes commits with the batch; if it raises, the batch rolls back and is
retried like any other failure of the batch, so an observer never sees an
event the read models do not hold, nor misses one they do.

Registration is idempotent by key (a re-run ``ready()`` replaces, never doubles).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from apps.events.schema import Event

AppliedEvents = Mapping[str, Mapping[uuid.UUID, Event]]
Observer = Callable[[AppliedEvents], None]

_observers: dict[str, Observer] = {}


def register(key: str, observer: Observer) -> None:
    """Call ``observer`` with the events each batch applied (see the module docstring)."""
    _observers[key] = observer


def unregister(key: str) -> None:
    _observers.pop(key, None)


def notify(applied: AppliedEvents) -> None:
    """Tell every observer, in registration order, what this batch changed."""
    if not any(applied.values()):
        return
    for observer in list(_observers.values()):
        observer(applied)
