"""Benchmark of the prediction service: `/predict` latency against BentoML's floor and in-process.

In one run, in a temporary folder that is removed afterwards:

1. trains and registers a small model (`bench.batch.train_model`: configs/quick.yaml on a
   simulated cohort), with a private MLflow store, BentoML store, token and audit log;
2. starts the real service with `mrbs serve` twice (the first start imports the version into
   the BentoML store, the second finds it there) and, beside it, the framework's floor:
   `bentoml serve bench.noop_service:NoOpService`, a BentoML endpoint that validates the same
   `/predict` body with the same request model and answers a constant; each start is timed
   until ``/readyz`` answers;
3. sends one patient (serving/http/example_patient.json) per request over HTTP with keep-alive,
   to `/predict`, to the floor and to `/predict` with ``"interval": true``: ``--warmup``
   requests to each, then ``--requests`` timed requests to each, interleaved in rounds so that
   all see the same machine load; reports p50, p90 and p99;
4. times the same patient in process: the service's whole path (validate the record, predict
   with contributions, shape the response) and, for reference, the logged pipeline's
   `predict_proba` on a one-row pandas frame (the straightforward way);
5. sends ``--concurrent`` clients at once, each with its own keep-alive connection, and reports
   requests per second and latency, for `/predict` and for the floor.

Targets (ratios in the same run): `/predict` p50 at most 1.5 times the floor's, `/predict` with
the interval at most twice a plain `/predict`, `mrbs serve` (version already imported) ready
within twice the no-op service's start.

    python -m bench.serving [--requests 300] [--warmup 30] [--concurrent 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import pandas as pd

from bench.batch import timed, train_model
from infra.quiet import quiet_process
from infra.settings import Settings
from serving.http.launch import bentoml_serve, mrbs_serve, running_service

TARGET_PREDICT: Final = 1.5
TARGET_INTERVAL: Final = 2.0
TARGET_START: Final = 2.0
ROUNDS: Final = 3
PREDICT: Final = "/predict over HTTP"
NOOP: Final = "no-op BentoML endpoint"
INTERVAL: Final = '/predict with "interval": true'


@dataclass(frozen=True)
class Latency:
    label: str
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @classmethod
    def of(cls, label: str, seconds: Sequence[float]) -> Latency:
        ms = np.asarray(seconds) * 1000
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return cls(label, len(ms), float(p50), float(p90), float(p99))


@dataclass(frozen=True)
class Throughput:
    label: str
    clients: int
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failures: int


@dataclass(frozen=True)
class Result:
    latencies: list[Latency]
    throughputs: list[Throughput]
    starts: dict[str, float]
    environment: dict[str, Any]

    def p50(self, label: str) -> float:
        return next(x.p50_ms for x in self.latencies if x.label == label)

    def ratios(self) -> dict[str, float]:
        return {
            "predict_over_noop": self.p50(PREDICT) / self.p50(NOOP),
            "interval_over_predict": self.p50(INTERVAL) / self.p50(PREDICT),
            "serve_over_noop_start": self.starts["mrbs serve, version already imported"]
            / self.starts["no-op BentoML service"],
            "bento_over_noop_start": self.starts["bentoml serve of the released Bento"]
            / self.starts["no-op BentoML service"],
        }


def _poster(client: httpx.Client, url: str, body: dict[str, Any]) -> Callable[[], None]:
    def post() -> None:
        response = client.post(url, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")

    return post


def sequential(
    urls: dict[str, tuple[str, dict[str, Any]]], headers: dict[str, str], warmup: int, count: int
) -> list[Latency]:
    """Interleaved rounds of sequential requests, one keep-alive connection per endpoint."""
    clients = {label: httpx.Client(headers=headers, timeout=30) for label in urls}
    try:
        posts = {label: _poster(clients[label], url, body) for label, (url, body) in urls.items()}
        for post in posts.values():
            timed(post, warmup)
        seconds: dict[str, list[float]] = {label: [] for label in urls}
        per_round = -(-count // ROUNDS)
        for _ in range(ROUNDS):
            for label, post in posts.items():
                seconds[label] += timed(post, per_round)
        return [Latency.of(label, values[:count]) for label, values in seconds.items()]
    finally:
        for client in clients.values():
            client.close()


def concurrent(
    label: str, url: str, headers: dict[str, str], body: dict[str, Any], clients: int, each: int
) -> Throughput:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client_loop() -> None:
        nonlocal failures
        with httpx.Client(headers=headers, timeout=60) as client:
            client.post(url, json=body)  # open the connection before the clock starts
            start.wait()
            for _ in range(each):
                began = time.perf_counter()
                status = client.post(url, json=body).status_code
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    failures += status != 200

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latency = Latency.of(label, latencies)
    return Throughput(
        label=label,
        clients=clients,
        requests=len(latencies),
        per_second=len(latencies) / wall,
        p50_ms=latency.p50_ms,
        p99_ms=latency.p99_ms,
        failures=failures,
    )


def in_process(uri: str, settings: Settings, warmup: int, count: int) -> list[Latency]:
    from features.pipeline import model_input
    from features.schema import canonical_values, patient_model
    from scoring import load
    from serving.http.respond import predict_record
    from serving.http.schemas import example_patient

    scorer = load(uri, settings)
    model = patient_model()

    def whole_path() -> None:
        predict_record(scorer, model.model_validate(example_patient()))

    record = canonical_values(model.model_validate(example_patient()))
    frame = model_input(pd.DataFrame([record]), scorer.fields)

    def pipeline_on_frame() -> None:
        scorer.pipeline.predict_proba(frame)

    timed(whole_path, warmup)
    timed(pipeline_on_frame, warmup)
    return [
        Latency.of(
            "in process: validate, predict, contributions, response", timed(whole_path, count)
        ),
        Latency.of(
            "in process: pipeline.predict_proba on a 1-row DataFrame",
            timed(pipeline_on_frame, count),
        ),
    ]


def environment() -> dict[str, Any]:
    import bentoml

    return {
        "python": platform.python_version(),
        "bentoml": bentoml.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def run(args: argparse.Namespace, work: Path) -> Result:
    from serving.http.schemas import example_patient
    from serving.http.security import create_token
    from serving.http.settings import ServingSettings

    uri, settings, _ = train_model(work, 2000, args.seed)
    serving = ServingSettings(home=settings.home)
    token = create_token(serving.resolved_tokens_file, "bench")
    server_env = {
        **os.environ,
        "MRBS_HOME": str(settings.home),
        "BENTOML_HOME": str(work / "bentoml"),
    }
    headers = {"Authorization": f"Bearer {token}"}
    body = {"patient": example_patient()}
    noop = bentoml_serve("bench.noop_service:NoOpService")
    command = mrbs_serve("--model", uri)
    # The first start imports the version into the BentoML store; every later one finds it.
    with running_service(work / "first.log", command, server_env) as first:
        first_start = first.ready_seconds
    # The release path: the same version packaged into a Bento, served without MLflow.
    bento = _release(uri, server_env)
    with running_service(work / "bento.log", bentoml_serve(bento), server_env) as released:
        bento_start = released.ready_seconds
    with (
        running_service(work / "mrbs.log", command, server_env) as service,
        running_service(work / "noop.log", noop, server_env) as floor,
    ):
        starts = {
            "mrbs serve, first start (imports the version)": first_start,
            "mrbs serve, version already imported": service.ready_seconds,
            "bentoml serve of the released Bento": bento_start,
            "no-op BentoML service": floor.ready_seconds,
        }
        urls: dict[str, tuple[str, dict[str, Any]]] = {
            PREDICT: (f"{service.url}/predict", body),
            NOOP: (f"{floor.url}/predict", body),
            INTERVAL: (f"{service.url}/predict", {**body, "interval": True}),
        }
        latencies = sequential(urls, headers, args.warmup, args.requests)
        each = max(1, args.requests // args.concurrent)
        throughputs = [
            concurrent(label, urls[label][0], headers, body, args.concurrent, each)
            for label in (PREDICT, NOOP)
        ]
    latencies += in_process(uri, settings, args.warmup, args.requests)
    return Result(latencies, throughputs, starts, environment())


def _release(uri: str, environment: dict[str, str]) -> str:
    """`mrbs release` of ``uri``: the tag of the Bento it built."""
    mrbs = Path(sys.executable).with_name("mrbs")
    built = subprocess.run(
        [str(mrbs), "release", "--model", uri],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return built.stdout.split("built Bento ", 1)[1].split()[0]


def _verdict(value: float, target: float) -> str:
    return f"{value:.2f} [{'PASS' if value <= target else 'MISS'} <= {target:g}]"


def report(result: Result) -> str:
    lines = [
        "| call (one patient) | n | p50 ms | p90 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {x.label} | {x.count} | {x.p50_ms:.2f} | {x.p90_ms:.2f} | {x.p99_ms:.2f} |"
        for x in result.latencies
    ]
    lines += [
        "",
        "| concurrent clients | endpoint | requests | req/s | p50 ms | p99 ms | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t.clients} | {t.label} | {t.requests} | {t.per_second:.1f} | {t.p50_ms:.1f} | "
        f"{t.p99_ms:.1f} | {t.failures} |"
        for t in result.throughputs
    ]
    lines += ["", "| start until /readyz | s |", "|---|---|"]
    lines += [f"| {label} | {seconds:.2f} |" for label, seconds in result.starts.items()]
    ratios = result.ratios()
    lines += [
        "",
        f"/predict p50 / no-op p50: {_verdict(ratios['predict_over_noop'], TARGET_PREDICT)}",
        "/predict with interval p50 / /predict p50: "
        f"{_verdict(ratios['interval_over_predict'], TARGET_INTERVAL)}",
        "mrbs serve (imported) until ready / no-op service: "
        f"{_verdict(ratios['serve_over_noop_start'], TARGET_START)}",
        "released Bento until ready / no-op service: "
        f"{_verdict(ratios['bento_over_noop_start'], TARGET_START)}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests first")
    parser.add_argument("--concurrent", type=int, default=8, help="clients at once")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_process()
    with tempfile.TemporaryDirectory(prefix="mrbs-bench-serving-") as folder:
        result = run(args, Path(folder))
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({**asdict(result), "ratios": result.ratios()}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
