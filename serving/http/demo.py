"""Try the prediction service end to end: start it, ask it about the example patient, stop it.

`python -m serving.http.demo` (the last step of `make demo`) starts `mrbs serve` on the registry's
champion, sends `serving/http/example_patient.json` to `/predict` over HTTP with a bearer token,
prints the service's answer and stops the service. The token is kept in ``--token-file`` so
the README's curl example can use it against a service kept running with `mrbs serve`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from infra.quiet import quiet_process
from infra.store import DEFAULT_MODEL_URI
from serving.http.launch import ServiceStartError, mrbs_serve, running_service
from serving.http.schemas import example_patient
from serving.http.security import create_token, read_tokens, token_digest
from serving.http.settings import ServingSettings

DEMO_CALLER = "demo"


def demo_token(token_file: Path, serving: ServingSettings) -> str:
    """The token in ``token_file`` if the service knows it; otherwise a new one, saved there."""
    if token_file.exists():
        token = token_file.read_text().strip()
        if token_digest(token) in read_tokens(serving.resolved_tokens_file):
            return token
    token = create_token(serving.resolved_tokens_file, DEMO_CALLER)
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


def main(argv: list[str] | None = None) -> int:
    quiet_process()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--token-file", type=Path, default=Path("work/demo/token"))
    parser.add_argument("--log", type=Path, default=Path("work/demo/server.log"))
    parser.add_argument("--model", default=DEFAULT_MODEL_URI, help="registry URI to serve")
    arguments = parser.parse_args(argv)
    token = demo_token(arguments.token_file, ServingSettings())
    print(f"starting the service (`mrbs serve`; its log: {arguments.log}) ...", flush=True)
    try:
        with running_service(arguments.log, mrbs_serve("--model", arguments.model)) as service:
            response = httpx.post(
                f"{service.url}/predict",
                json={"patient": example_patient()},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            print(
                f"POST {service.url}/predict (serving/http/example_patient.json) -> "
                f"{response.status_code}"
            )
            print(json.dumps(response.json(), indent=2))
    except ServiceStartError as error:
        print(f"the service did not start: {error}", file=sys.stderr)
        return 1
    print("service stopped")
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
