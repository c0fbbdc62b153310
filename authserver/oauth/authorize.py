"""The authorization endpoint (RFC 6749 §4.1.1-4.1.2, OIDC Core §3.1.2) as an ordered list of checks.

`validate` runs small `check_*` steps in order, node-oidc-provider style. The first two (client,
redirect URI) fail to our own error page and never redirect (A3): until both are known good, a
redirect could go anywhere. Every later failure goes back to the redirect URI with `error`,
`error_description`, the exact `state` and `iss` (RFC 9207, A6). Descriptions are fixed ASCII
sentences and never quote the input, so no request can make one unsafe to put in a URL; no input
reaches SQL before it is known to be short printable text (checklist L6).

`next_step` decides what the browser does next (log in, sign up, consent, or get a code);
`issue` stores the code and builds the success redirect (A7). Pages live in `authserver/pages/`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from authserver.context import AppContext
from authserver.db.models import Client, User
from authserver.db.types import utcnow
from authserver.domain import identifiers
from authserver.domain.clients import SCOPE_TOKEN_RE
from authserver.domain.keys import KeyRing
from authserver.oauth import id_tokens, redirect_uris
from authserver.oauth.grants.authorization_code import issue_code
from authserver.oauth.pkce import CHALLENGE_RE
from authserver.settings import Settings

MAX_VALUE_LENGTH = 4096  # any one parameter; longer is not a request we need to read
MAX_STATE_LENGTH = 1024
MAX_NONCE_LENGTH = 512
PROMPTS = ("none", "login", "consent", "create")  # discovery's prompt_values_supported
# What a pending request keeps: everything the checks read, nothing else (ignored parameters are
# dropped, so a request cannot park arbitrary data on the server).
STORED = (
    "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "response_mode", "prompt", "max_age", "resource", "id_token_hint", "login_hint",
)  # fmt: skip
Step = Literal["login", "signup", "consent", "issue"]
KeyRingSource = Callable[[], Awaitable[KeyRing]]  # `AppContext.keyring`


class AuthorizeError(Exception):
    """One refusal. Without `redirect_uri` it is shown on our error page (bad client or URI)."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
        page: str = "bad_request",
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state
        self.page = page  # which sentence the error page shows when there is no redirect

    def location(self, issuer: str) -> str | None:
        """Where the browser goes with this error (RFC 6749 §4.1.2.1, RFC 9207 §2), if anywhere."""
        if self.redirect_uri is None:
            return None
        return redirect_uris.with_query(
            self.redirect_uri,
            {"error": self.error, "error_description": self.description, "state": self.state, "iss": issuer},
        )


@dataclass(frozen=True)
class AuthorizationRequest:
    """A request that passed every check; `params` is what a pending request stores."""

    client: Client
    redirect_uri: str
    state: str | None
    scopes: list[str]
    code_challenge: str
    nonce: str | None
    resource: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    hinted_subject: str | None  # `sub` of a valid id_token_hint
    params: dict[str, str]

    @property
    def scope(self) -> str:
        return " ".join(self.scopes)


# Checks that answer on our error page ------------------------------------------------------------


def check_text(params: Mapping[str, object]) -> None:
    """L6: every value is short text without control characters or lone surrogates, before any
    value is compared, stored or sent to the database (PostgreSQL refuses NUL, for one)."""
    for key, value in params.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
            raise AuthorizeError("invalid_request", "A parameter is malformed or too long.")
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise AuthorizeError("invalid_request", "A parameter contains control characters.")


async def check_client(session: AsyncSession, params: Mapping[str, str]) -> Client:
    client_id = params.get("client_id", "")
    if not identifiers.is_client_id(client_id):
        raise AuthorizeError(
            "invalid_client", "The request does not name a known application.", page="bad_client"
        )
    client = await session.get(Client, client_id)
    if client is None:
        raise AuthorizeError(
            "invalid_client", "The request does not name a known application.", page="bad_client"
        )
    return client


def check_redirect_uri(client: Client, params: Mapping[str, str]) -> str:
    """A1/A2: exact match (loopback IP on any port). Never echo the URI (it may be an attacker's)."""
    requested = params.get("redirect_uri")
    if not requested:
        # RFC 9700 §2.1 / OIDC Core §3.1.2.1: always required, even with one registered URI.
        raise AuthorizeError("invalid_request", "The request has no redirect_uri.", page="bad_redirect")
    if not redirect_uris.matches(requested, client.redirect_uris):
        raise AuthorizeError(
            "invalid_request", "The redirect_uri is not registered for this application.", page="bad_redirect"
        )
    return requested


# Checks that answer at the redirect URI ----------------------------------------------------------


def check_state(params: Mapping[str, str]) -> str | None:
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise AuthorizeError("invalid_request", f"state must be at most {MAX_STATE_LENGTH} characters.")
    return state


def check_request_objects(params: Mapping[str, str]) -> None:
    """OIDC Core §6: we do not take request objects, and say so instead of ignoring them."""
    if "request" in params:
        raise AuthorizeError("request_not_supported", "Request objects are not supported.")
    if "request_uri" in params:
        raise AuthorizeError("request_uri_not_supported", "request_uri is not supported.")


def check_response_mode(params: Mapping[str, str]) -> None:
    mode = params.get("response_mode")
    if mode is not None and mode != "query":
        raise AuthorizeError("invalid_request", "Only response_mode=query is supported.")


def check_response_type(client: Client, params: Mapping[str, str]) -> None:
    """A4, A11: `code` only; implicit and hybrid flows are refused (RFC 9700 §2.1.2)."""
    response_type = params.get("response_type")
    if not response_type:
        raise AuthorizeError("invalid_request", "The request has no response_type.")
    if response_type != "code":
        raise AuthorizeError("unsupported_response_type", "Only response_type=code is supported.")
    if "authorization_code" not in client.grant_types:
        raise AuthorizeError("unauthorized_client", "This application may not use the code flow.")


def check_scope(client: Client, params: Mapping[str, str]) -> list[str]:
    """RFC 6749 §3.3: scope tokens separated by single spaces; only registered scopes (T10)."""
    raw = params.get("scope")
    if raw is None or raw == "":
        return sorted(set(client.scopes))  # none asked: the registered ones (RFC 6749 §3.3)
    tokens = raw.split(" ")
    if any(not SCOPE_TOKEN_RE.fullmatch(token) for token in tokens):
        raise AuthorizeError("invalid_scope", "scope must be scope tokens separated by single spaces.")
    if set(tokens) - set(client.scopes):
        raise AuthorizeError("invalid_scope", "The application is not registered for a requested scope.")
    return sorted(set(tokens))


def check_pkce(params: Mapping[str, str]) -> str:
    """P1-P3: S256 with a well-formed challenge, from every client (RFC 9700 §2.1.1)."""
    challenge = params.get("code_challenge")
    if not challenge:
        raise AuthorizeError("invalid_request", "PKCE is required: send code_challenge with method S256.")
    if params.get("code_challenge_method") != "S256":
        raise AuthorizeError("invalid_request", "code_challenge_method must be S256.")
    if not CHALLENGE_RE.fullmatch(challenge):
        raise AuthorizeError("invalid_request", "code_challenge must be 43 base64url characters.")
    return challenge


def check_nonce(params: Mapping[str, str]) -> str | None:
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        raise AuthorizeError("invalid_request", f"nonce must be at most {MAX_NONCE_LENGTH} characters.")
    return nonce or None


def check_prompt(params: Mapping[str, str]) -> frozenset[str]:
    """OIDC Core §3.1.2.1 and Prompt Create §4: `none` alone; unknown values are ignored."""
    values = frozenset(params.get("prompt", "").split())
    if "none" in values and len(values) > 1:
        raise AuthorizeError("invalid_request", "prompt=none cannot be combined with other values.")
    return values & frozenset(PROMPTS)


def check_max_age(params: Mapping[str, str]) -> int | None:
    raw = params.get("max_age")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        raise AuthorizeError("invalid_request", "max_age must be a whole number of seconds.")
    return int(raw)


def check_resource(client: Client, params: Mapping[str, str]) -> str | None:
    """RFC 8707 §2: a resource the client is registered for; stored on the code for the token."""
    resource = params.get("resource")
    if resource is None:
        return None
    if resource not in client.resources:
        raise AuthorizeError("invalid_target", "The requested resource is not allowed for this application.")
    return resource


async def check_id_token_hint(
    keyring: KeyRingSource, issuer: str, client: Client, params: Mapping[str, str]
) -> str | None:
    """O6: a hint must be an ID token we issued to this client; its `sub` is the user expected."""
    if "id_token_hint" not in params:
        return None
    hint = id_tokens.read_id_token_hint(await keyring(), params["id_token_hint"], issuer=issuer)
    if hint is None or client.client_id not in id_tokens.audiences(hint):
        raise AuthorizeError(
            "invalid_request", "id_token_hint is not an ID token issued to this application."
        )
    return str(hint["sub"])


async def validate(
    session: AsyncSession, settings: Settings, keyring: KeyRingSource, params: Mapping[str, str]
) -> AuthorizationRequest:
    """Run every check in order; raise the first `AuthorizeError`. Unknown parameters are ignored
    (A5), as are `display`, `ui_locales`, `claims_locales`, `acr_values` and `claims`. The key
    ring is fetched only for an `id_token_hint`: nothing else here needs a signing key."""
    check_text(params)
    client = await check_client(session, params)
    redirect_uri = check_redirect_uri(client, params)
    try:
        state = check_state(params)
    except AuthorizeError as error:
        error.redirect_uri = redirect_uri  # an over-long state is not echoed back
        raise
    try:
        check_request_objects(params)
        check_response_mode(params)
        check_response_type(client, params)
        scopes = check_scope(client, params)
        challenge = check_pkce(params)
        nonce = check_nonce(params)
        prompt = check_prompt(params)
        max_age = check_max_age(params)
        resource = check_resource(client, params)
        hinted = await check_id_token_hint(keyring, settings.issuer, client, params)
    except AuthorizeError as error:
        error.redirect_uri, error.state = redirect_uri, state
        raise
    return AuthorizationRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        code_challenge=challenge,
        nonce=nonce,
        resource=resource,
        prompt=prompt,
        max_age=max_age,
        login_hint=params.get("login_hint"),
        hinted_subject=hinted,
        params={key: params[key] for key in STORED if key in params},
    )


# What happens next -----------------------------------------------------------------------------


def _refuse(request: AuthorizationRequest, error: str, description: str) -> AuthorizeError:
    return AuthorizeError(error, description, redirect_uri=request.redirect_uri, state=request.state)


def next_step(
    request: AuthorizationRequest,
    *,
    user: User | None,
    auth_time: datetime | None,
    started_at: datetime,
    consented: bool,
) -> Step:
    """Where the browser goes next, or an `AuthorizeError` for `prompt=none` (O4, O5).

    A login counts as fresh when it happened after the request started (`started_at`): that
    satisfies `prompt=login`, `prompt=create` and any `max_age`, so a short `max_age` cannot
    send the user round in circles.
    """
    signed_in = user is not None and auth_time is not None
    fresh = signed_in and auth_time is not None and auth_time >= started_at
    stale = (
        request.max_age is not None
        and auth_time is not None
        and auth_time < utcnow() - timedelta(seconds=request.max_age)
    )
    other_user = user is not None and request.hinted_subject not in (None, user.id)
    if "none" in request.prompt:
        if not signed_in or stale or other_user:
            raise _refuse(request, "login_required", "The user is not signed in.")
        if not consented:
            raise _refuse(request, "consent_required", "The user has not allowed this application.")
        return "issue"
    if fresh and other_user:
        raise _refuse(request, "login_required", "The user signed in is not the one id_token_hint names.")
    if not fresh and (not signed_in or stale or other_user or request.prompt & {"login", "create"}):
        return "signup" if "create" in request.prompt else "login"
    return "issue" if consented else "consent"


async def issue(
    session: AsyncSession,
    settings: Settings,
    request: AuthorizationRequest,
    user: User,
    *,
    auth_time: datetime,
    sid: str | None,
) -> str:
    """Store a code and return the success redirect: code, exact state, iss (A7, RFC 9207 §2)."""
    if user.disabled:
        raise _refuse(request, "access_denied", "This account is disabled.")  # no code for it
    code = await issue_code(
        session,
        ttl=settings.auth_code_ttl,
        client_id=request.client.client_id,
        user_id=user.id,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        nonce=request.nonce,
        resource=request.resource,
        auth_time=auth_time,
        sid=sid,
    )
    return redirect_uris.with_query(
        request.redirect_uri, {"code": code, "state": request.state, "iss": settings.issuer}
    )


# The protocol half on its own, for a user already signed in who consented -------------------------


@dataclass(frozen=True)
class AuthorizationResult:
    status: int
    location: str | None  # where to redirect the browser, if anywhere
    error: str | None = None
    description: str | None = None


async def authorize(
    ctx: AppContext,
    params: Mapping[str, str],
    user: User,
    *,
    auth_time: datetime | None = None,
    sid: str | None = None,
) -> AuthorizationResult:
    """Validate and issue a code for `user` in one transaction (tools and tests; the browser
    flow goes through the pages). Never raises for any input (L6)."""
    async with ctx.transaction() as session:
        try:
            request = await validate(session, ctx.settings, ctx.keyring, params)
            location = await issue(
                session, ctx.settings, request, user, auth_time=auth_time or utcnow(), sid=sid
            )
        except AuthorizeError as error:
            where = error.location(ctx.settings.issuer)
            return AuthorizationResult(302 if where else 400, where, error.error, error.description)
        return AuthorizationResult(302, location)
