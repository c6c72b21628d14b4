"""The CDS Hooks JWT checks on their own: the allow-list file, algorithms, claims and replay."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from serving.http.cds_auth import (
    MAX_LIFETIME_SECONDS,
    IssuerConfigError,
    TokenRefusedError,
    Verifier,
    load_issuers,
)

ISSUER = "https://ehr.example.org"
AUDIENCE = "https://mrbs.example.org/cds-services/mrbs-sri4-patient-view"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _jwks(key: ec.EllipticCurvePrivateKey, kid: str = "k1") -> dict[str, Any]:
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"keys": [{**public, "kid": kid}]}


@pytest.fixture
def verifier(key: ec.EllipticCurvePrivateKey, tmp_path: Path) -> Verifier:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({ISSUER: {"jwks": _jwks(key), "origins": ["https://a.test"]}}))
    return Verifier(load_issuers(path))


def _token(key: Any, *, alg: str = "ES384", kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    payload["jti"] = uuid.uuid4().hex
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def test_a_valid_token_is_accepted_once(verifier: Verifier, key: Any) -> None:
    token = _token(key)
    assert verifier.verify(f"Bearer {token}", AUDIENCE)["iss"] == ISSUER
    with pytest.raises(TokenRefusedError, match="replayed"):
        verifier.verify(f"Bearer {token}", AUDIENCE)


def test_a_symmetric_token_is_refused(verifier: Verifier) -> None:
    """An HMAC token (as in the algorithm-confusion attack) never reaches signature checks."""
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": 2**31, "jti": "x"}
    forged = jwt.encode(payload, key=b"s" * 48, algorithm="HS384", headers={"kid": "k1"})
    with pytest.raises(TokenRefusedError, match="ES384 or RS384"):
        verifier.verify(f"Bearer {forged}", AUDIENCE)


def test_an_unsigned_token_is_refused(verifier: Verifier) -> None:
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": 0, "exp": 2**31, "jti": "y"}
    unsigned = jwt.encode(payload, key=None, algorithm="none", headers={"kid": "k1"})
    with pytest.raises(TokenRefusedError):
        verifier.verify(f"Bearer {unsigned}", AUDIENCE)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"aud": "https://elsewhere.example.org"}, "audience"),
        ({"iss": "https://stranger.example.org"}, "unknown issuer"),
        ({"exp": int(time.time()) + MAX_LIFETIME_SECONDS + 600}, "longer"),
    ],
)
def test_refusals_name_their_reason(
    verifier: Verifier, key: Any, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenRefusedError, match=reason):
        verifier.verify(f"Bearer {_token(key, **claims)}", AUDIENCE)


def test_an_unknown_kid_and_garbage_are_refused(verifier: Verifier, key: Any) -> None:
    with pytest.raises(TokenRefusedError, match="kid"):
        verifier.verify(f"Bearer {_token(key, kid='other')}", AUDIENCE)
    with pytest.raises(TokenRefusedError, match="well-formed"):
        verifier.verify("Bearer not.a.jwt", AUDIENCE)
    with pytest.raises(TokenRefusedError, match="required"):
        verifier.verify(None, AUDIENCE)


def test_no_allow_list_refuses_everyone(key: Any) -> None:
    with pytest.raises(TokenRefusedError, match="unknown issuer"):
        Verifier(load_issuers(None)).verify(f"Bearer {_token(key)}", AUDIENCE)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "cannot be read as JSON"),
        ("[]", "must be an object"),
        (json.dumps({ISSUER: {"origins": []}}), "needs 'jwks'"),
        (json.dumps({ISSUER: {"jwks": {"keys": [{"kty": "EC"}]}}}), "jwks"),
    ],
)
def test_a_bad_allow_list_names_the_file_and_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(content)
    with pytest.raises(IssuerConfigError, match=problem) as raised:
        load_issuers(path)
    assert str(path) in str(raised.value)


def test_keys_without_kid_are_refused_in_the_allow_list(key: Any, tmp_path: Path) -> None:
    jwks = _jwks(key)
    del jwks["keys"][0]["kid"]
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({ISSUER: {"jwks": jwks}}))
    with pytest.raises(IssuerConfigError, match="kid"):
        load_issuers(path)
