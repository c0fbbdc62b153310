"""What every token request checks, whatever its grant (RFC 6749 §3.2, §3.3; RFC 8707).

Each grant module calls these in order: authenticate the client (one rule for every endpoint,
`oauth/client_auth.py`), check the client is registered for the grant (T9), parse the requested
scope strictly (RFC 6749 §3.3), then narrow what a user may delegate by role.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidScopeError, UnauthorizedClientError

from authserver.db.models import User
from authserver.domain import scope_policy
from authserver.oauth import client_auth
from authserver.oauth.client_model import ClientModel


def authenticate_client(grant: Any, *, check_grant: bool = True) -> ClientModel:
    client: ClientModel = grant.server.authenticate_client(grant.request, client_auth.TOKEN_ENDPOINT_METHODS)
    if check_grant:
        require_grant(grant, client)
    grant.request.client = client
    return client


def require_grant(grant: Any, client: ClientModel) -> None:
    if not client.check_grant_type(grant.GRANT_TYPE):
        raise UnauthorizedClientError(f"The client is not registered for grant_type={grant.GRANT_TYPE}.")


def requested_scopes(grant: Any) -> list[str] | None:
    """The `scope` parameter as a list, None when absent or empty; malformed is `invalid_scope`."""
    try:
        return scope_policy.parse_requested(grant.request.form.get("scope"))
    except scope_policy.MalformedScope as exc:
        raise InvalidScopeError(str(exc)) from None


def within(requested: list[str] | None, allowed: list[str], what: str) -> list[str]:
    """T10 / R3: a request may narrow `allowed`, never widen it; asking for nothing means all of it."""
    if requested is None:
        return sorted(set(allowed))
    if scope_policy.beyond_registration(requested, allowed):
        raise InvalidScopeError(f"A requested scope is beyond {what}.")
    return requested


def delegable_by(
    store: Any, user: User | str, scopes: list[str], known_roles: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(scopes the user may delegate, the user's roles). Roles are read only when they matter,
    and not at all when the grant already read them (`known_roles`)."""
    settings = store.settings
    if not settings.role_scopes and scope_policy.ROLES_SCOPE not in scopes:
        return scopes, []
    roles: list[str] = (
        known_roles if known_roles is not None else store.roles(user if isinstance(user, str) else user.id)
    )
    return scope_policy.delegable(scopes, roles, settings.role_scopes), roles
