"""Authlib request objects built from a body we already parsed and size-limited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: Mapping[str, str]) -> None:
        self._data = dict(params)
        # Repeats were refused while parsing (RFC 6749 §3.2), so each list has one value.
        self._datalist = {key: [value] for key, value in self._data.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class ParsedRequest(OAuth2Request):  # type: ignore[misc]
    """An `OAuth2Request` over already-parsed parameters.

    Authlib's constructor refuses plain-http URIs unless a process-wide environment variable says
    otherwise. Our URI is built from the configured issuer, which settings allow to be http only for
    a loopback host, so the check is already made, per server, without the global switch.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        form: Mapping[str, str] | None = None,
        args: Mapping[str, str] | None = None,
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self._body = None
        self._form = dict(form or {})
        self._args = dict(args or {})
        self.payload = _Payload(self._form if form is not None else self._args)
        self.client: Any = None
        self.auth_method: str | None = None
        self.user: Any = None
        self.authorization_code: Any = None
        self.refresh_token: Any = None
        self.credential: Any = None
        self._scope: str | None = None
        # Ours: the family the tokens of this request belong to, once known.
        self.family_id: str | None = None

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return self._args
