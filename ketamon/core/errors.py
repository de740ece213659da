"""Errors an operation raises. Each carries a message fit to show a nurse."""
from __future__ import annotations


class KetamonError(Exception):
    """Base for refusals the user should read; the message is the whole story."""


class ValidationError(KetamonError):
    """An entry was refused; nothing was stored."""

    def __init__(self, message: str, field: str | None = None, value: object = None):
        super().__init__(message)
        self.field = field
        self.value = value


class PermissionDenied(KetamonError):
    """The signed-in user's role may not do this. The refusal is audited."""


class InvalidTransition(KetamonError):
    """A session lifecycle step that is not allowed from the current state."""


class SessionLocked(KetamonError):
    """The session record is signed; only addenda may be added."""


class NotFound(KetamonError):
    pass


class AuthenticationError(KetamonError):
    pass


class DatabaseUnreachable(KetamonError):
    """The clinic database could not be reached (server down, network, connection
    cut): nothing was saved, and the workstation retries its connection. A
    technical problem, not the user's entry: what was typed stays where it was."""

