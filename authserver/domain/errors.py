"""Domain errors. Messages are written for the person who sent the input and never carry a secret;
the HTTP and CLI layers map `code` to a status or an exit code in one place each."""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    code = "invalid_request"


class PasswordPolicyError(InvalidInput):
    code = "weak_password"


class AccountExists(DomainError):
    code = "account_exists"


class NotFound(DomainError):
    code = "not_found"
