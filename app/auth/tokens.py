"""Access tokens (JWT, HS256 pinned) and the `tenant_sig` cookie that must travel with them.

The signing secret is never used directly: a JWT key and a cookie key are derived from it, so a
cookie signature can never pass as a token signature or the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from app.context import Role

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
LEEWAY_SECONDS = 30
COOKIE_NAME = "tenant_sig"


class InvalidToken(Exception):
    """The token or cookie cannot be trusted. The reason is for logs, never for the client."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    token_version: int
    issued_at: int
    expires_at: int
    token_id: str


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"tenantgraph/" + purpose, hashlib.sha256).digest()


class TokenService:
    def __init__(self, secret: bytes, *, issuer: str, audience: str, ttl: int) -> None:
        jwt_key = _derive(secret, b"jwt/v1")
        self._key = OctKey.import_key(jwt_key)
        self._kid = hashlib.sha256(jwt_key).hexdigest()[:16]
        self._cookie_key = _derive(secret, b"tenant-cookie/v1")
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._registry_options = {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
        }

    # --- tokens -------------------------------------------------------------------------------

    def issue(
        self, *, user_id: uuid.UUID, tenant_id: uuid.UUID, role: Role, token_version: int
    ) -> tuple[str, TokenClaims]:
        now = int(time.time())
        claims = TokenClaims(
            user_id, tenant_id, role, token_version, now, now + self.ttl, uuid.uuid4().hex
        )
        token = jwt.encode(
            {"alg": ALGORITHM, "kid": self._kid, "typ": "JWT"},
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": str(user_id),
                "tid": str(tenant_id),
                "role": role.value,
                "ver": token_version,
                "iat": now,
                "exp": claims.expires_at,
                "jti": claims.token_id,
            },
            self._key,
            algorithms=[ALGORITHM],
        )
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            if decoded.header.get("alg") != ALGORITHM or decoded.header.get("kid") != self._kid:
                raise InvalidToken("unexpected header")
            jwt.JWTClaimsRegistry(leeway=LEEWAY_SECONDS, **self._registry_options).validate(
                decoded.claims
            )
            c = decoded.claims
            iat, exp, ver, jti = c["iat"], c["exp"], c["ver"], c["jti"]
            if not isinstance(jti, str) or not 16 <= len(jti) <= 64:
                raise InvalidToken("bad token id")
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp, ver)):
                raise InvalidToken("non-integer time or version claim")
            if iat > time.time() + LEEWAY_SECONDS:
                raise InvalidToken("issued in the future")
            return TokenClaims(
                user_id=uuid.UUID(c["sub"]),
                tenant_id=uuid.UUID(c["tid"]),
                role=Role(c["role"]),
                token_version=ver,
                issued_at=iat,
                expires_at=exp,
                token_id=jti,
            )
        except InvalidToken:
            raise
        except (JoseError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise InvalidToken(type(exc).__name__) from None

    # --- the tenant cookie --------------------------------------------------------------------

    def _cookie_mac(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, expires_at: int, token_id: str
    ) -> str:
        # Bound to the token it was issued with: another token of the same user and tenant
        # (say, one issued after revokeAllSessions) does not accept this cookie.
        message = f"{tenant_id}|{user_id}|{expires_at}|{token_id}".encode()
        digest = hmac.new(self._cookie_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign_cookie(self, claims: TokenClaims) -> str:
        mac = self._cookie_mac(claims.tenant_id, claims.user_id, claims.expires_at, claims.token_id)
        return f"{claims.tenant_id}.{claims.user_id}.{claims.expires_at}.{mac}"

    def verify_cookie(self, value: str, claims: TokenClaims) -> None:
        """Accept only the genuine, unexpired cookie issued with the token of `claims`."""
        parts = value.split(".")
        if len(parts) != 4 or len(value) > 256:
            raise InvalidToken("malformed cookie")
        try:
            tenant_id, user_id, expires_at = uuid.UUID(parts[0]), uuid.UUID(parts[1]), int(parts[2])
        except ValueError:
            raise InvalidToken("malformed cookie") from None
        expected = self._cookie_mac(tenant_id, user_id, expires_at, claims.token_id)
        if not hmac.compare_digest(expected, parts[3]):
            raise InvalidToken("cookie signature (forged, or issued with another token)")
        if expires_at < time.time():
            raise InvalidToken("cookie expired")
        if tenant_id != claims.tenant_id or user_id != claims.user_id:
            raise InvalidToken("cookie and token disagree")
