"""The OAuth 2.1 authorization server built into HTTP: the SDK's endpoints over our accounts and hashed secrets."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import uuid
from typing import Final

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    RegistrationError,
    TokenError,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl, AnyUrl

from ..models import Grant
from ..protocols import AccountStore
from .auth import StaticTokens
from .client_auth import stored, unsealed
from .clients import ClientDocumentError, ClientDocuments, is_document_url, redirect_allowed

logger = logging.getLogger(__name__)

SCOPE: Final = "memory"
"""The one scope: read and change the signed-in user's memories."""
ACCESS_SECONDS: Final = 3600
REFRESH_SECONDS: Final = 30 * 86400
CODE_SECONDS: Final = 300
REQUEST_SECONDS: Final = 900
MAX_PENDING: Final = 1000
"""Most sign-ins started and not yet finished (each is stored until it expires): more are refused for a while."""
MAX_STATE: Final = 1024
"""Longest `state` a client may send through a sign-in (it is stored with the request)."""
MAX_UNCLAIMED: Final = 1000
"""Most registered clients that never got a token: more registrations are refused until the purge."""
UNCLAIMED_SECONDS: Final = 86400
"""A registration that got no token within a day is removed."""
UNUSED_SECONDS: Final = REFRESH_SECONDS
"""A client that got no token for as long as a refresh token lives is removed (it would have to sign in anew)."""
SIGNIN_PATH: Final = "/signin"
WEB_CLIENT: Final = "memory-mcp-web"
"""The client id of the server's own web page (a public client: PKCE, no secret), known without registering."""

# Kinds of stored secrets.
REQUEST, CODE, ACCESS, REFRESH, SPENT = "request", "code", "access", "refresh", "spent"


def digest(secret: str) -> str:
    """How a secret is kept: its SHA-256 (secrets are 256 random bits, so no slower hash is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def with_documents(metadata: dict[str, object]) -> dict[str, object]:
    """Authorization-server metadata that also says what the SDK's leaves out: client id metadata documents are
    accepted, and public clients (PKCE, no secret: `none`) may use the token endpoint."""
    methods = metadata.get("token_endpoint_auth_methods_supported")
    known = list(methods) if isinstance(methods, list) else []
    return metadata | {
        "client_id_metadata_document_supported": True,
        "authorization_response_iss_parameter_supported": True,  # RFC 9207: the sign-in sends `iss` back
        "token_endpoint_auth_methods_supported": ["none", *[method for method in known if method != "none"]],
    }


class Authority(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """`OAuthAuthorizationServerProvider` for the SDK's /authorize, /token, /register and /revoke: clients register
    (RFC 7591), send a person to sign in and consent (`signin`), and get access tokens bound to that person and to
    this server's /mcp (`resource`), short-lived, with refresh tokens that rotate on each use. A refresh token
    used twice ends the whole sign-in (it was copied). The static tokens file keeps working beside it."""

    def __init__(
        self,
        store: AccountStore,
        *,
        issuer: str,
        resource: str,
        static: StaticTokens | None,
        documents: ClientDocuments | None = None,
    ) -> None:
        self.store = store
        self.documents = documents or ClientDocuments()
        self.issuer = issuer.rstrip("/")
        self.issuer_id = str(AnyHttpUrl(self.issuer))
        """The issuer exactly as the metadata says it (`iss` of RFC 9207 is compared as a string)."""
        self.resource = resource
        self._static = static

    # -- clients -------------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        if client_id == WEB_CLIENT:
            return OAuthClientInformationFull(
                client_id=WEB_CLIENT,
                client_name="The memories page of this server",
                redirect_uris=[AnyUrl(self.issuer + "/")],
                token_endpoint_auth_method="none",
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                scope=SCOPE,
            )
        if is_document_url(client_id):  # a client id metadata document names the client by its own URL
            try:
                client = await self.documents.get(client_id)
            except ClientDocumentError as exc:
                logger.warning("client %r refused: %s", client_id, exc)
                return None
            return client if client.scope else client.model_copy(update={"scope": SCOPE})  # the one scope there is
        kept = await self.store.oauth_client(client_id)
        if kept is None:
            return None
        return unsealed(OAuthClientInformationFull.model_validate_json(kept), digest)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        for uri in client_info.redirect_uris or []:
            if not redirect_allowed(str(uri)):
                raise RegistrationError(
                    "invalid_redirect_uri",
                    f"Redirect URI {uri} is not allowed: use https, http on localhost/127.0.0.1, or an app's own "
                    "scheme in reverse-DNS form (com.example.app:/callback), with no user name in it.",
                )
        if not client_info.redirect_uris:
            raise RegistrationError("invalid_redirect_uri", "Register at least one redirect URI.")
        if await self.store.count_unused_clients() >= MAX_UNCLAIMED:
            logger.warning("registration refused: %d registered clients never signed anyone in", MAX_UNCLAIMED)
            raise RegistrationError(
                "invalid_client_metadata", "Too many registrations are waiting for a first sign-in; try again later."
            )
        # A confidential client's secret is kept as its SHA-256 only (the SDK answered it to the client already).
        hashed = stored(client_info, digest(client_info.client_secret or ""))
        await self.store.save_oauth_client(client_info.client_id or "", hashed.model_dump_json())
        logger.info("OAuth client registered: %r (%s)", client_info.client_name, client_info.client_id)

    # -- sign-in -------------------------------------------------------------------------------

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        if params.resource is not None and params.resource.rstrip("/") != self.resource.rstrip("/"):
            raise AuthorizeError("invalid_target", f"This server only issues tokens for {self.resource}.")
        scopes = params.scopes or [SCOPE]
        if set(scopes) - {SCOPE}:
            raise AuthorizeError("invalid_scope", f"The only scope is {SCOPE!r}.")
        if params.state is not None and len(params.state) > MAX_STATE:
            raise AuthorizeError("invalid_request", f"state is longer than {MAX_STATE} characters.")
        if await self.store.count_grants(REQUEST, time.time()) >= MAX_PENDING:
            logger.warning("sign-in refused: %d sign-ins are already waiting", MAX_PENDING)
            raise AuthorizeError("temporarily_unavailable", "Too many sign-ins are waiting; try again in minutes.")
        request = secrets.token_urlsafe(32)
        data = params.model_dump(mode="json") | {"scopes": scopes}
        grant = Grant(str(uuid.uuid4()), "", client.client_id or "", json.dumps(data), time.time() + REQUEST_SECONDS)
        await self.store.save_grant(digest(request), REQUEST, grant)
        return f"{self.issuer}{SIGNIN_PATH}?request={request}"

    async def pending(self, request: str) -> tuple[Grant, AuthorizationParams] | None:
        """The sign-in request behind a sign-in page (None when unknown or expired)."""
        grant = await self.store.grant(digest(request), REQUEST, time.time())
        if grant is None:
            return None
        return grant, AuthorizationParams.model_validate_json(grant.data)

    async def approve(self, request: str, user: str) -> str | None:
        """The person signed in as `user` and allowed the client: a code for it; None when the request is gone
        (used already, or expired)."""
        grant = await self.store.take_grant(digest(request), REQUEST, time.time())
        if grant is None:
            return None
        code = secrets.token_urlsafe(32)
        issued = Grant(grant.grant_id, user, grant.client_id, grant.data, time.time() + CODE_SECONDS)
        await self.store.save_grant(digest(code), CODE, issued)
        logger.info("user %s allowed OAuth client %s", user, grant.client_id)
        return code

    async def deny(self, request: str) -> bool:
        """The person refused: the request is spent."""
        return await self.store.take_grant(digest(request), REQUEST, time.time()) is not None

    # -- codes and tokens ----------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        grant = await self.store.grant(digest(authorization_code), CODE, time.time())
        if grant is None or grant.client_id != client.client_id:
            return None
        params = json.loads(grant.data)
        return AuthorizationCode(
            code=authorization_code,
            scopes=params["scopes"],
            expires_at=grant.expires_at,
            client_id=grant.client_id,
            code_challenge=params["code_challenge"],
            redirect_uri=params["redirect_uri"],
            redirect_uri_provided_explicitly=params["redirect_uri_provided_explicitly"],
            resource=params.get("resource"),
            subject=grant.user_id,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        grant = await self.store.take_grant(digest(authorization_code.code), CODE, time.time())
        if grant is None or grant.client_id != client.client_id:
            raise TokenError("invalid_grant", "The code was used already or has expired: sign in again.")
        return await self._issue(grant, authorization_code.scopes)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        grant = await self.store.grant(digest(refresh_token), REFRESH, time.time())
        if grant is None:
            spent = await self.store.grant(digest(SPENT + refresh_token), SPENT, time.time())
            if spent is not None:  # a refresh token used a second time was copied: end that sign-in
                logger.warning("a refresh token of user %s was used twice: that sign-in is revoked", spent.user_id)
                await self.store.revoke_grant(spent.grant_id)
            return None
        if grant.client_id != client.client_id:
            return None
        data = json.loads(grant.data)
        return RefreshToken(
            token=refresh_token,
            client_id=grant.client_id,
            scopes=data["scopes"],
            expires_at=int(grant.expires_at),
            resource=data.get("resource"),
            subject=grant.user_id,
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        grant = await self.store.take_grant(digest(refresh_token.token), REFRESH, time.time())
        if grant is None or grant.client_id != client.client_id:
            raise TokenError("invalid_grant", "The refresh token was used already or has expired: sign in again.")
        spent = Grant(grant.grant_id, grant.user_id, grant.client_id, "{}", grant.expires_at)
        await self.store.save_grant(digest(SPENT + refresh_token.token), SPENT, spent)
        return await self._issue(grant, scopes or refresh_token.scopes)

    async def _issue(self, grant: Grant, scopes: list[str]) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        data = json.dumps({"scopes": scopes, "resource": self.resource})
        moment = time.time()
        for secret, kind, seconds in ((access, ACCESS, ACCESS_SECONDS), (refresh, REFRESH, REFRESH_SECONDS)):
            issued = Grant(grant.grant_id, grant.user_id, grant.client_id, data, moment + seconds)
            await self.store.save_grant(digest(secret), kind, issued)
        await self.store.client_used(grant.client_id, moment)
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=ACCESS_SECONDS,
            refresh_token=refresh,
            scope=" ".join(scopes),
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        known = None if self._static is None else await self._static.verify_token(token)
        if known is not None:  # the tokens file: bound to this server like every token it accepts
            return known.model_copy(update={"resource": self.resource})
        grant = await self.store.grant(digest(token), ACCESS, time.time())
        if grant is None:
            return None
        data = json.loads(grant.data)
        return AccessToken(
            token=token,
            client_id=grant.client_id,
            scopes=data["scopes"],
            expires_at=int(grant.expires_at),
            resource=data["resource"],
            subject=grant.user_id,
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        for kind in (ACCESS, REFRESH):
            grant = await self.store.grant(digest(token.token), kind, time.time())
            if grant is not None:
                await self.store.revoke_grant(grant.grant_id)
                logger.info("a sign-in of user %s was revoked", grant.user_id)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The bearer check of /health and the REST API: the same as the SDK's."""
        return await self.load_access_token(token)


async def tidy(store: AccountStore, window: float, moment: float | None = None) -> dict[str, int]:
    """Forget what expired: secrets past their time, sign-in attempts older than `window` seconds, and registered
    clients nobody uses (see `UNCLAIMED_SECONDS`, `UNUSED_SECONDS`). How many of each."""
    moment = time.time() if moment is None else moment
    purged = {
        "grants": await store.purge_grants(moment),
        "attempts": await store.purge_signin(moment - window),
        "clients": await store.purge_clients(moment, moment - UNCLAIMED_SECONDS, moment - UNUSED_SECONDS),
    }
    if any(purged.values()):
        logger.info("purged expired sign-in state: %s", purged)
    return purged
