"""What the EHR-side tests share: the example Bundle, an EHR's signing keys, and hook calls
carrying the example patient as prefetch."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from importlib import resources
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://ehr.example.org"
ORIGIN = "https://ehr.example.org"
INDEX = "2025-06-02"
FHIR = {"Content-Type": "application/fhir+json"}


def example_bundle() -> dict[str, Any]:
    text = resources.files("serving.http").joinpath("example_patient.fhir.json").read_text()
    return dict(json.loads(text))


class Keys:
    def __init__(self) -> None:
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        es = jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key(), as_dict=True)
        rs = jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key(), as_dict=True)
        return {"keys": [{**es, "kid": "es", "alg": "ES384"}, {**rs, "kid": "rs", "alg": "RS384"}]}

    def token(self, audience: str, *, alg: str = "ES384", **changes: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": audience, "iat": now, "exp": now + 300}
        claims["jti"] = uuid.uuid4().hex
        claims.update(changes)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.ec if alg == "ES384" else self.rsa
        kid = "es" if alg == "ES384" else "rs"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


PATIENT_VIEW = "mrbs-sri4-patient-view"
ORDER_SELECT = "mrbs-sri4-order-select"
KEYS_BY_ID = {
    "sledai-2k": "sledai",
    "c3": "c3",
    "c4": "c4",
    "igg": "igg",
    "anti-dsdna": "antiDsDna",
    "iga": "iga",
    "proteinuria": "proteinuria24h",
    "sdi": "sdi",
    "smoking": "smoking",
    "anti-sm": "antiSm",
}


def today_bundle() -> dict[str, Any]:
    """The example Bundle with its observations dated today (a hook's index date)."""
    bundle = example_bundle()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    for entry in bundle["entry"]:
        if "effectiveDateTime" in entry["resource"]:
            entry["resource"]["effectiveDateTime"] = today
    return bundle


def prefetch() -> dict[str, Any]:
    """The example patient as an EHR answers MRBS's prefetch templates."""
    found: dict[str, Any] = {"conditions": [], "medicationStatements": []}
    for entry in today_bundle()["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "Patient":
            found["patient"] = resource
        elif kind == "Observation":
            found[KEYS_BY_ID[resource["id"]]] = searchset([resource])
        elif kind == "Condition":
            found["conditions"].append(resource)
        else:
            found["medicationStatements"].append(resource)
    found["conditions"] = searchset(found["conditions"])
    found["medicationStatements"] = searchset(found["medicationStatements"])
    for key in (
        "platelets",
        "leukocytes",
        "creatinine",
        "blys",
        "proteinuriaRatio",
        "medicationRequests",
    ):
        found[key] = None
    return found


def searchset(resources_: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources_],
    }


def call(hook: str = "patient-view", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "example"},
        "prefetch": prefetch(),
    }
    body.update(changes)
    return body
