"""A FastAPI service that accepts authserver access tokens (README: "Protecting your API").

Run: AUTHSERVER_ISSUER=http://127.0.0.1:8000 uvicorn --app-dir examples fastapi_resource_server:app
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from authserver_resource import Authenticator, Issuer, Principal
from authserver_resource.fastapi import protect, require_scopes

ISSUER = os.environ.get("AUTHSERVER_ISSUER", "http://127.0.0.1:8000")
app = FastAPI()
protect(app, Authenticator([Issuer(ISSUER, audience=os.environ.get("API_AUDIENCE", ISSUER))]), realm="orders")


@app.get("/orders")
async def list_orders(
    principal: Annotated[Principal, Depends(require_scopes("orders:read"))],
) -> dict[str, str]:
    return {"subject": principal.subject, "client_id": principal.client_id or ""}
