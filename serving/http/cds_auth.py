"""CDS Hooks authentication: the EHR's signed JWT, checked against an allow-list of issuers.

The allow-list is a JSON file named by ``MRBS_CDS_ISSUERS``: an object mapping each issuer
(``iss``) to ``{"jwks": {"keys": [...]}, "origins": [...]}``, the issuer's public keys (a JWK
Set; nothing is fetched from the network, so ``jku`` is ignored) and the browser origins its EHR
calls from (CORS). A request is accepted only with ``Authorization: Bearer <JWT>`` whose header
names a key (``kid``) of its issuer, signed with ES384 or RS384 (the algorithms CDS Hooks
recommends), with ``iss``, ``aud``, ``exp``, ``iat`` and ``jti``; ``aud`` must be the URL the
EHR called, the token unexpired, and its ``jti`` not seen before within its lifetime.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt

ALGORITHMS: Final = ("ES384", "RS384")
REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "iat", "jti")
#: Clock difference tolerated between the EHR and MRBS, in seconds.
LEEWAY_SECONDS: Final = 30
#: Longest token lifetime accepted (CDS Hooks: the EHR SHOULD make it at most 5 minutes).
MAX_LIFETIME_SECONDS: Final = 3600


class IssuerConfigError(ValueError):
    """The issuer allow-list cannot be used; the message names the file and the problem."""


class TokenRefusedError(Exception):
    """A token refused, with a reason that names no secret and no patient value."""


@dataclass(frozen=True)
class Issuer:
    name: str
    keys: Mapping[str, Any]  # kid -> jwt.PyJWK
    origins: tuple[str, ...]


def load_issuers(path: Path | None) -> dict[str, Issuer]:
    """The allow-list in ``path`` (none configured: an empty one, which refuses every token)."""
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise IssuerConfigError(f"{path}: cannot be read as JSON ({error})") from None
    if not isinstance(raw, dict):
        raise IssuerConfigError(f"{path}: must be an object mapping each issuer to its keys")
    issuers: dict[str, Issuer] = {}
    for name, entry in raw.items():
        where = f"{path}: issuer {name!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("jwks"), dict):
            raise IssuerConfigError(f"{where}: needs 'jwks' (a JWK Set)")
        try:
            keyset = jwt.PyJWKSet.from_dict(entry["jwks"])
        except jwt.PyJWTError as error:
            raise IssuerConfigError(f"{where}: jwks: {error}") from None
        keys = {key.key_id: key for key in keyset.keys if key.key_id}
        if len(keys) != len(keyset.keys):
            raise IssuerConfigError(f"{where}: every key needs a 'kid'")
        origins = entry.get("origins", [])
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise IssuerConfigError(f"{where}: 'origins' must be a list of origins")
        issuers[name] = Issuer(name, keys, tuple(origins))
    return issuers


class Verifier:
    """Checks CDS Hooks JWTs against the allow-list and remembers the ``jti`` of each accepted
    token until it expires (per process: run one worker, or a shared cache, to refuse a
    replay that reaches another worker)."""

    def __init__(self, issuers: Mapping[str, Issuer]) -> None:
        self.issuers = dict(issuers)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def origins(self) -> list[str]:
        return sorted({origin for issuer in self.issuers.values() for origin in issuer.origins})

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The token's claims; `TokenRefusedError` with the reason otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRefusedError("a CDS Hooks JWT is required (Authorization: Bearer <JWT>)")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefusedError("the token is not a well-formed JWT") from None
        issuer = self.issuers.get(str(unverified.get("iss", "")))
        if issuer is None:
            raise TokenRefusedError("unknown issuer")
        key = issuer.keys.get(str(header.get("kid", "")))
        if key is None:
            raise TokenRefusedError("the token's kid names no key of its issuer")
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefusedError(f"the token must be signed with {' or '.join(ALGORITHMS)}")
        claims = self._decode(token, key, issuer.name, audience)
        if float(claims["exp"]) - float(claims["iat"]) > MAX_LIFETIME_SECONDS:
            raise TokenRefusedError(f"the token lives longer than {MAX_LIFETIME_SECONDS} s")
        self._remember(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _decode(self, token: str, key: Any, issuer: str, audience: str) -> dict[str, Any]:
        try:
            return dict(
                jwt.decode(
                    token,
                    key=key,
                    algorithms=list(ALGORITHMS),
                    audience=audience,
                    issuer=issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": list(REQUIRED_CLAIMS)},
                )
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefusedError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefusedError("the token's audience is not this service's URL") from None
        except jwt.MissingRequiredClaimError as error:
            raise TokenRefusedError(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRefusedError("the token's signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenRefusedError(f"the token is not valid ({type(error).__name__})") from None

    def _remember(self, jti: str, expires: float) -> None:
        now = time.time()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v + LEEWAY_SECONDS >= now}
            if jti in self._seen:
                raise TokenRefusedError("the token was already used (replayed jti)")
            self._seen[jti] = expires
