"""Access tokens (JWT, HS256 pinned) and the `tenant_sig` cookie that must travel with them.

The signing secret is never used directly: a JWT key and a cookie key are derived from it, so a
cookie signature can never pass as a token signature or the other way round.

Two kinds of token, signed with different derived keys so that neither can pass as the other:
an organization token names its tenant (`tid`) and role; a platform token (a super-admin's
session on the bare base domain, `scp: platform`) names no tenant. Their cookies differ too.

Key rotation: tokens name their key by `kid` (a hash of the derived key, never the key). New
tokens and cookies always use the current secret; a previous secret, when configured, still
verifies the tokens (and their cookies) it signed until they expire. An unknown `kid` is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
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


PLATFORM_SCOPE = "platform"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID | None  # None only for a platform token
    role: Role | None  # None only for a platform token
    token_version: int
    issued_at: int
    expires_at: int
    token_id: str
    key_id: str = ""  # the `kid` that signed the token; its cookie is checked with the same key
    platform: bool = False  # a super-admin's platform session, bound to no tenant


@dataclass(frozen=True, slots=True)
class _SigningKey:
    kid: str
    jwt_key: OctKey
    cookie_key: bytes
    platform: bool

    @classmethod
    def derive(cls, secret: bytes, *, platform: bool = False) -> _SigningKey:
        jwt_key = _derive(secret, b"jwt-platform/v1" if platform else b"jwt/v1")
        return cls(
            kid=hashlib.sha256(jwt_key).hexdigest()[:16],
            jwt_key=OctKey.import_key(jwt_key),
            cookie_key=_derive(secret, b"tenant-cookie/v1"),
            platform=platform,
        )


def _unverified_header(token: str) -> dict[str, object]:
    """The JOSE header, read only to choose the key; everything in it is verified afterwards."""
    segment = token.split(".", 1)[0]
    decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    if not isinstance(decoded, dict):
        raise InvalidToken("header is not an object")
    return decoded


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"tenantgraph/" + purpose, hashlib.sha256).digest()


class TokenService:
    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        previous_secret: bytes | None = None,
    ) -> None:
        self._current = _SigningKey.derive(secret)
        self._current_platform = _SigningKey.derive(secret, platform=True)
        secrets = [secret]
        if previous_secret is not None and previous_secret != secret:
            secrets.append(previous_secret)
        self._keys = {
            key.kid: key
            for s in secrets
            for key in (_SigningKey.derive(s), _SigningKey.derive(s, platform=True))
        }
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
        """An organization session: its tenant and role."""
        return self._issue(
            self._current,
            user_id,
            tenant_id,
            role,
            token_version,
            {"tid": str(tenant_id), "role": role.value},
        )

    def issue_platform(self, *, user_id: uuid.UUID, token_version: int) -> tuple[str, TokenClaims]:
        """A super-admin's platform session: no tenant, no role, its own signing key."""
        return self._issue(
            self._current_platform, user_id, None, None, token_version, {"scp": PLATFORM_SCOPE}
        )

    def _issue(
        self,
        key: _SigningKey,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID | None,
        role: Role | None,
        token_version: int,
        scope_claims: dict[str, str],
    ) -> tuple[str, TokenClaims]:
        now = int(time.time())
        claims = TokenClaims(
            user_id,
            tenant_id,
            role,
            token_version,
            now,
            now + self.ttl,
            uuid.uuid4().hex,
            key.kid,
            key.platform,
        )
        token = jwt.encode(
            {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"},
            {
                "iss": self.issuer,
                "aud": self.audience,
                "sub": str(user_id),
                **scope_claims,
                "ver": token_version,
                "iat": now,
                "exp": claims.expires_at,
                "jti": claims.token_id,
            },
            key.jwt_key,
            algorithms=[ALGORITHM],
        )
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("token too long")
        try:
            header = _unverified_header(token)
            # Pinned before any key is touched: `none`, RS256/ES256 (an HMAC secret posing as a
            # public key) or any other spelling never reaches a verifier.
            if header.get("alg") != ALGORITHM:
                raise InvalidToken("algorithm not allowed")
            key = self._keys.get(header.get("kid"))  # type: ignore[arg-type]
            if key is None:
                raise InvalidToken("unknown key id")
            decoded = jwt.decode(token, key.jwt_key, algorithms=[ALGORITHM])
            if decoded.header.get("alg") != ALGORITHM or decoded.header.get("kid") != key.kid:
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
            if exp - iat > self.ttl + LEEWAY_SECONDS:
                # no token of ours lives longer than the configured lifetime, whichever key
                # signed it (a previous key cannot mint long-lived tokens)
                raise InvalidToken("lifetime longer than issued")
            if iat > time.time() + LEEWAY_SECONDS:
                raise InvalidToken("issued in the future")
            nbf = c.get("nbf")
            if nbf is not None and (
                not isinstance(nbf, int | float) or nbf > time.time() + LEEWAY_SECONDS
            ):
                raise InvalidToken("not valid yet")
            if key.platform:
                # the key decides the kind; the claims must agree with it
                if c.get("scp") != PLATFORM_SCOPE or "tid" in c or "role" in c:
                    raise InvalidToken("platform token with organization claims")
                return TokenClaims(
                    user_id=uuid.UUID(c["sub"]),
                    tenant_id=None,
                    role=None,
                    token_version=ver,
                    issued_at=iat,
                    expires_at=exp,
                    token_id=jti,
                    key_id=key.kid,
                    platform=True,
                )
            if "scp" in c:
                raise InvalidToken("organization token with a scope")
            return TokenClaims(
                user_id=uuid.UUID(c["sub"]),
                tenant_id=uuid.UUID(c["tid"]),
                role=Role(c["role"]),
                token_version=ver,
                issued_at=iat,
                expires_at=exp,
                token_id=jti,
                key_id=key.kid,
            )
        except InvalidToken:
            raise
        except (JoseError, KeyError, ValueError, TypeError, AttributeError, UnicodeError) as exc:
            raise InvalidToken(type(exc).__name__) from None

    # --- the tenant cookie --------------------------------------------------------------------

    def _cookie_mac(
        self,
        key: _SigningKey,
        tenant_id: uuid.UUID | None,
        user_id: uuid.UUID,
        expires_at: int,
        token_id: str,
    ) -> str:
        # Bound to the token it was issued with: another token of the same user and tenant
        # (say, one issued after revokeAllSessions) does not accept this cookie.
        scope = PLATFORM_SCOPE if tenant_id is None else str(tenant_id)
        message = f"{scope}|{user_id}|{expires_at}|{token_id}".encode()
        digest = hmac.new(key.cookie_key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign_cookie(self, claims: TokenClaims) -> str:
        key = self._keys.get(claims.key_id, self._current)
        mac = self._cookie_mac(
            key, claims.tenant_id, claims.user_id, claims.expires_at, claims.token_id
        )
        scope = PLATFORM_SCOPE if claims.tenant_id is None else str(claims.tenant_id)
        return f"{scope}.{claims.user_id}.{claims.expires_at}.{mac}"

    def verify_cookie(self, value: str, claims: TokenClaims) -> None:
        """Accept only the genuine, unexpired cookie issued with the token of `claims`."""
        parts = value.split(".")
        if len(parts) != 4 or len(value) > 256:
            raise InvalidToken("malformed cookie")
        try:
            tenant_id = None if parts[0] == PLATFORM_SCOPE else uuid.UUID(parts[0])
            user_id, expires_at = uuid.UUID(parts[1]), int(parts[2])
        except ValueError:
            raise InvalidToken("malformed cookie") from None
        key = self._keys.get(claims.key_id)
        if key is None:
            raise InvalidToken("unknown key id")
        expected = self._cookie_mac(key, tenant_id, user_id, expires_at, claims.token_id)
        if not hmac.compare_digest(expected, parts[3]):
            raise InvalidToken("cookie signature (forged, or issued with another token)")
        if expires_at < time.time():
            raise InvalidToken("cookie expired")
        if tenant_id != claims.tenant_id or user_id != claims.user_id:
            raise InvalidToken("cookie and token disagree")
