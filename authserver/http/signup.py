"""POST /signup: create an account from JSON or a form.

U7: by default a duplicate answers 409 so API clients can tell the user; with
AUTHSERVER_SIGNUP_REVEALS_CONFLICTS=false, success and duplicate both answer 202 with the same body
after the same argon2 work (U9), so the endpoint cannot be used to learn who has an account.
"""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse

from authserver import account_mail
from authserver.context import AppContext
from authserver.domain import users
from authserver.domain.errors import AccountExists
from authserver.domain.rate_limits import address_key
from authserver.http.bodies import read_form_or_json
from authserver.http.client_ips import client_ip
from authserver.http.errors import NO_STORE, ApiError


async def signup(request: Request) -> JSONResponse:
    ctx: AppContext = request.app.state.ctx
    if not ctx.settings.signup_enabled:
        raise ApiError(403, "access_denied", "Signup is disabled on this server.")
    params = await read_form_or_json(request, ctx.settings.max_body_bytes)
    unknown = set(params) - {"email", "username", "password"}
    if unknown:
        raise ApiError(400, "invalid_request", f"Unknown field {sorted(unknown)[0]!r}.")
    reveal = ctx.settings.signup_reveals_conflicts
    ip = client_ip(request)
    await ctx.limiter.enforce("signup_per_ip", address_key(ip), ip=ip)  # U7, before any argon2 work
    try:
        async with ctx.transaction() as session:
            user = await users.create_user(
                session,
                ctx.hasher,
                ctx.password_rules,
                email=params.get("email"),
                username=params.get("username"),
                password=params.get("password"),
                ip=ip,
            )
    except AccountExists:
        if reveal:
            raise
        return JSONResponse({"status": "accepted"}, status_code=202, headers=NO_STORE)
    verify = BackgroundTask(account_mail.send_verification, ctx, user.id, ip)  # E6, after the answer
    if not reveal:
        return JSONResponse({"status": "accepted"}, status_code=202, headers=NO_STORE, background=verify)
    return JSONResponse(
        {"id": user.id, "email": user.email, "username": user.username},
        status_code=201,
        headers=NO_STORE,
        background=verify,
    )
