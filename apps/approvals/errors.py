"""The domain errors of maker-checker requests. Views turn them into messages or 4xx answers."""

from __future__ import annotations


class ApprovalError(Exception):
    """A request or decision the rules do not allow; ``message`` is meant for the person."""

    default_code = "not_allowed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class RequestNotAllowed(ApprovalError):
    """A refund or freeze that cannot be requested (role, amount, payment state)."""


class DecisionNotAllowed(ApprovalError):
    """An approval or rejection the four-eyes rules refuse."""

    default_code = "decision_not_allowed"


class RequestChanged(ApprovalError):
    """The request or its target changed since it was checked: it must be re-checked first."""

    default_code = "request_changed"


class ReauthenticationRequired(ApprovalError):
    """Approving moves money: the approver must have signed in recently."""

    default_code = "reauthentication_required"
