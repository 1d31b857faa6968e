"""The token matrix: every forged, stale or misdirected token is 401 UNAUTHENTICATED before
any resolver runs; keys rotate by `kid`; weak secrets stop the process at start-up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from sqlalchemy.ext.asyncio import AsyncConnection
from typer.testing import CliRunner

from app.auth.tokens import InvalidToken, TokenService, _derive
from app.cli import cli
from app.context import Role
from app.database import Database
from app.main import create_app
from app.settings import ConfigurationError, Settings
from tests.conftest import TEST_SECRET
from tests.helpers import DemoData, Session, error_codes, gql, login

VIEWER = "{ viewer { user { email } activeTenant { slug } } }"
OLD_SECRET = "the-secret-before-the-rotation-0123456789"
OTHER_SECRET = "a-secret-this-deployment-never-had-0123456"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def decode_segment(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))  # type: ignore[no-any-return]


def forge(
    header: dict[str, Any], payload: dict[str, Any], key: bytes, digest: str = "sha256"
) -> str:
    """A compact JWS signed with HMAC over `key`, whatever the header claims."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def service(secret: str, previous: str | None = None) -> TokenService:
    settings = Settings(secret_key=secret)
    return TokenService(
        secret.encode(),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl=settings.token_ttl,
        previous_secret=previous.encode() if previous else None,
    )


@pytest.fixture
def alice(demo: DemoData) -> Session:
    """A genuine session, issued directly (a sign-in per case would only add argon2 time; the
    rotation tests below sign in for real)."""
    return issue(TEST_SECRET, demo)


def genuine_parts(alice: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = alice.token.split(".")
    return decode_segment(header), decode_segment(payload)


async def assert_401(client: httpx.AsyncClient, token: str, cookie: str, name: str) -> None:
    response = await gql(client, VIEWER, session=Session(token, cookie, "acme.localhost"))
    body = response.json()
    assert response.status_code == 401, (name, body)
    assert error_codes(body) == ["UNAUTHENTICATED"], name
    assert body["errors"][0]["message"] == "Invalid or expired credentials", name
    assert body.get("data") is None, name


JWT_KEY = _derive(TEST_SECRET.encode(), b"jwt/v1")


async def test_a_token_forged_with_the_real_key_is_the_control(
    client: httpx.AsyncClient, alice: Session
) -> None:
    # the forger below is exact: with the real key and genuine claims it is accepted
    header, payload = genuine_parts(alice)
    token = forge(header, payload, JWT_KEY)
    response = await gql(client, VIEWER, session=Session(token, alice.cookie, alice.host))
    assert response.json()["data"]["viewer"]["user"] == {"email": "alice@acme.test"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_every_spelling_is_401(
    client: httpx.AsyncClient, alice: Session, alg: str
) -> None:
    header, payload = genuine_parts(alice)
    unsigned = f"{b64json({**header, 'alg': alg})}.{b64json(payload)}."
    await assert_401(client, unsigned, alice.cookie, f"{alg}, empty signature")
    signed = forge({**header, "alg": alg}, payload, JWT_KEY)
    await assert_401(client, signed, alice.cookie, f"{alg}, signed anyway")
    no_alg = {k: v for k, v in header.items() if k != "alg"}
    await assert_401(client, forge(no_alg, payload, JWT_KEY), alice.cookie, "no alg")


@pytest.mark.parametrize(
    ("alg", "digest"),
    [
        ("RS256", "sha256"),
        ("ES256", "sha256"),
        ("PS256", "sha256"),
        ("HS384", "sha384"),
        ("HS512", "sha512"),
        ("hs256", "sha256"),
    ],
)
async def test_any_other_algorithm_is_401_even_when_signed_with_the_real_key(
    client: httpx.AsyncClient, alice: Session, alg: str, digest: str
) -> None:
    # RS256/ES256 signed as HMAC: the "HMAC with the public key" confusion has no way in
    header, payload = genuine_parts(alice)
    await assert_401(
        client, forge({**header, "alg": alg}, payload, JWT_KEY, digest), alice.cookie, alg
    )


async def test_hs256_signed_with_an_empty_or_raw_key_is_401(
    client: httpx.AsyncClient, alice: Session
) -> None:
    header, payload = genuine_parts(alice)
    await assert_401(client, forge(header, payload, b""), alice.cookie, "empty key")
    # the raw secret is never the JWT key either (a key per purpose is derived from it)
    await assert_401(
        client, forge(header, payload, TEST_SECRET.encode()), alice.cookie, "raw secret"
    )


FROM_NOW_600 = object()  # ten minutes after the moment the test runs


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("expired", {"exp": int(time.time()) - 120, "iat": int(time.time()) - 3720}),
        ("missing exp", {"exp": None}),
        ("missing iat", {"iat": None}),
        ("missing sub", {"sub": None}),
        ("future nbf", {"nbf": FROM_NOW_600}),
        ("nbf not a number", {"nbf": "soon"}),
        ("future iat", {"iat": FROM_NOW_600}),
        ("wrong aud", {"aud": "another-api"}),
        ("aud list without ours", {"aud": ["another-api"]}),
        ("wrong iss", {"iss": "https://evil.example"}),
        ("exp as text", {"exp": str(int(time.time()) + 600)}),
        ("version as bool", {"ver": True}),
        ("role unknown", {"role": "SUPERADMIN"}),
    ],
)
async def test_claims_are_checked_even_under_a_valid_signature(
    client: httpx.AsyncClient, alice: Session, name: str, change: dict[str, Any]
) -> None:
    header, payload = genuine_parts(alice)
    # "ten minutes ahead" is taken when the test runs, not when it is collected: a long suite
    # would otherwise bring it within the clock-skew leeway
    change = {k: int(time.time()) + 600 if v is FROM_NOW_600 else v for k, v in change.items()}
    claims = {**payload, **change}
    claims = {k: v for k, v in claims.items() if v is not None}
    await assert_401(client, forge(header, claims, JWT_KEY), alice.cookie, name)


async def test_an_nbf_in_the_past_or_within_the_leeway_is_accepted(
    client: httpx.AsyncClient, alice: Session
) -> None:
    header, payload = genuine_parts(alice)
    for nbf in (int(time.time()) - 60, int(time.time()) + 5):
        token = forge(header, {**payload, "nbf": nbf}, JWT_KEY)
        response = await gql(client, VIEWER, session=Session(token, alice.cookie, alice.host))
        assert response.status_code == 200, nbf


async def test_an_edited_payload_or_header_is_401(
    client: httpx.AsyncClient, alice: Session, demo: DemoData
) -> None:
    header, payload, signature = alice.token.split(".")
    claims = decode_segment(payload)
    for name, edited in {
        "sub": {**claims, "sub": str(demo.users["carol@acme.test"])},
        "tid": {**claims, "tid": str(demo.tenants["globex"])},
        "role": {**claims, "role": "ADMIN", "ver": claims["ver"]},
        "exp": {**claims, "exp": claims["exp"] + 86400},
    }.items():
        await assert_401(client, f"{header}.{b64json(edited)}.{signature}", alice.cookie, name)
    kid_edited = {**decode_segment(header), "kid": "0" * 16}
    await assert_401(client, f"{b64json(kid_edited)}.{payload}.{signature}", alice.cookie, "kid")
    await assert_401(client, f"{header}.{payload}.{signature[:-4]}AAAA", alice.cookie, "signature")
    await assert_401(client, f"{header}.{payload}", alice.cookie, "two segments")
    await assert_401(client, "x" * 5000, alice.cookie, "too long")
    await assert_401(client, "%%%.###.!!!", alice.cookie, "not base64")


# --- key rotation -----------------------------------------------------------------------------


@pytest.fixture
async def rotated(runtime_conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """The app after a rotation: TEST_SECRET is current, OLD_SECRET the previous key."""
    settings = Settings(secret_key=TEST_SECRET, secret_key_previous=OLD_SECRET)
    app = create_app(settings=settings, database=Database.bound_to(runtime_conn))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as http:
        yield http


def issue(secret: str, demo: DemoData, email: str = "alice@acme.test") -> Session:
    tokens = service(secret)
    token, claims = tokens.issue(
        user_id=demo.users[email], tenant_id=demo.tenants["acme"], role=Role.ADMIN, token_version=1
    )
    return Session(token, tokens.sign_cookie(claims), "acme.localhost")


async def test_tokens_of_the_previous_key_still_verify(
    rotated: httpx.AsyncClient, demo: DemoData
) -> None:
    old = issue(OLD_SECRET, demo)
    body = (await gql(rotated, VIEWER, session=old)).json()
    assert body["data"]["viewer"]["user"] == {"email": "alice@acme.test"}


async def test_new_tokens_use_the_current_key(rotated: httpx.AsyncClient, demo: DemoData) -> None:
    fresh = await login(rotated, "alice@acme.test")
    kid = decode_segment(fresh.token.split(".")[0])["kid"]
    assert kid == decode_segment(issue(TEST_SECRET, demo).token.split(".")[0])["kid"]
    assert kid != decode_segment(issue(OLD_SECRET, demo).token.split(".")[0])["kid"]
    assert (await gql(rotated, VIEWER, session=fresh)).status_code == 200


async def test_an_unknown_kid_is_401(rotated: httpx.AsyncClient, demo: DemoData) -> None:
    stranger = issue(OTHER_SECRET, demo)
    await assert_401(rotated, stranger.token, stranger.cookie, "unknown kid")


async def test_an_old_key_token_with_a_current_key_cookie_is_refused(
    rotated: httpx.AsyncClient, demo: DemoData
) -> None:
    old, current = issue(OLD_SECRET, demo), issue(TEST_SECRET, demo)
    response = await gql(rotated, VIEWER, session=Session(old.token, current.cookie, old.host))
    assert response.status_code == 403
    assert error_codes(response.json()) == ["TENANT_MISMATCH"]


async def test_once_the_previous_key_is_dropped_its_tokens_are_401(
    client: httpx.AsyncClient, demo: DemoData
) -> None:
    old = issue(OLD_SECRET, demo)
    await assert_401(client, old.token, old.cookie, "previous key no longer configured")


# --- secrets at start-up ----------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["TENANTGRAPH_SECRET_KEY", "TENANTGRAPH_SECRET_KEY_PREVIOUS"])
@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_the_app_factory_refuses_a_short_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str, secret: str
) -> None:
    monkeypatch.setenv("TENANTGRAPH_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv(variable, secret)
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        create_app()


def test_the_app_factory_refuses_production_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENANTGRAPH_ENV", "production")
    monkeypatch.delenv("TENANTGRAPH_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="TENANTGRAPH_SECRET_KEY is required"):
        create_app()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TENANTGRAPH_SECRET_KEY": "short"}, "at least 32 bytes"),
        ({"TENANTGRAPH_SECRET_KEY": ""}, "at least 32 bytes"),
        ({"TENANTGRAPH_SECRET_KEY_PREVIOUS": "short"}, "at least 32 bytes"),
        ({"TENANTGRAPH_ENV": "production"}, "TENANTGRAPH_SECRET_KEY is required"),
    ],
)
def test_the_cli_refuses_to_serve_with_a_weak_secret(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("TENANTGRAPH_SECRET_KEY", raising=False)
    monkeypatch.setenv("TENANTGRAPH_DATA_DIR", f"/nonexistent/{uuid.uuid4().hex}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert message in result.output


def test_previous_and_current_keys_never_share_a_kid() -> None:
    current, previous = service(TEST_SECRET), service(OLD_SECRET)
    assert current._current.kid != previous._current.kid
    # the kid is a hash of the derived key, never the key or the secret
    kid = current._current.kid
    assert kid not in TEST_SECRET
    assert kid == hashlib.sha256(JWT_KEY).hexdigest()[:16]


def test_no_token_lives_longer_than_the_configured_lifetime() -> None:
    # a leaked previous secret still cannot mint a token that outlives the token lifetime
    service = TokenService(
        b"c" * 40,
        issuer="tenantgraph",
        audience="tenantgraph-api",
        ttl=3600,
        previous_secret=b"p" * 40,
    )
    previous = TokenService(b"p" * 40, issuer="tenantgraph", audience="tenantgraph-api", ttl=3600)
    # what the previous key signed in its time still verifies
    token, claims = previous.issue(
        user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), role=Role.ADMIN, token_version=1
    )
    assert service.verify(token).token_id == claims.token_id
    key = previous._current.jwt_key
    header = jwt.decode(token, key, algorithms=["HS256"]).header
    now = int(time.time())
    payload = {
        "iss": "tenantgraph",
        "aud": "tenantgraph-api",
        "sub": str(uuid.uuid4()),
        "tid": str(uuid.uuid4()),
        "role": "ADMIN",
        "ver": 1,
        "iat": now,
        "exp": now + 10 * 365 * 24 * 3600,
        "jti": uuid.uuid4().hex,
    }
    forged = jwt.encode(header, payload, key, algorithms=["HS256"])
    with pytest.raises(InvalidToken, match="lifetime"):
        service.verify(forged)
