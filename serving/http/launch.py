"""Start the service as users start it, as a child process; wait until ready; stop it cleanly.

The demo (`python -m serving.http.demo`), the end-to-end tests and the serving benchmark all run
the real server this way: `mrbs serve` (or `bentoml serve` of a built Bento) on a free local
port, in its own process group so that stopping it also stops BentoML's worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from infra.quiet import child_environment

#: How long a server may take to become ready (imports and model loading take about 10 s).
READY_TIMEOUT_SECONDS: Final = 180.0
STOP_TIMEOUT_SECONDS: Final = 30.0


class ServiceStartError(RuntimeError):
    """The server exited or never became ready; the message carries the end of its log."""


@dataclass(frozen=True)
class RunningService:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    #: From starting the command until ``/readyz`` first answered 200.
    ready_seconds: float


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def mrbs_serve(*arguments: str) -> Callable[[str, int], list[str]]:
    """The command line of `mrbs serve` with ``arguments``, for a host and port."""
    mrbs = Path(sys.executable).with_name("mrbs")

    def command(host: str, port: int) -> list[str]:
        return [str(mrbs), "serve", "--host", host, "--port", str(port), *arguments]

    return command


def bentoml_serve(bento: str) -> Callable[[str, int], list[str]]:
    """The command line serving a built Bento, which needs no MLflow store."""

    def command(host: str, port: int) -> list[str]:
        serve = [sys.executable, "-m", "bentoml", "serve", bento]
        return [*serve, "--host", host, "--port", str(port)]

    return command


def _tail(log: Path, lines: int = 30) -> str:
    if not log.exists():
        return "(no output)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceStartError(
                    f"the server exited with code {process.returncode}:\n{_tail(log)}"
                )
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            time.sleep(0.2)
    raise ServiceStartError(f"the server was not ready after {timeout:g} s:\n{_tail(log)}")


def _signal_group(process: subprocess.Popen[bytes], signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group has already gone
        os.killpg(process.pid, signal_number)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, then SIGKILL if it does not stop in time.

    The group is signalled even when the leader has exited, so no worker it started lingers.
    """
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running_service(
    log: Path,
    command: Callable[[str, int], list[str]] | None = None,
    environment: Mapping[str, str] | None = None,
    timeout: float = READY_TIMEOUT_SECONDS,
) -> Iterator[RunningService]:
    """Run ``command`` (default `mrbs serve`) on a free port until the block ends.

    The server's output goes to ``log``; it is stopped however the block ends.
    """
    host, port = "127.0.0.1", free_port()
    argv = (command or mrbs_serve())(host, port)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=child_environment(environment if environment is not None else os.environ),
            start_new_session=True,
        )
    try:
        url = f"http://{host}:{port}"
        wait_ready(url, process, log, timeout)
        yield RunningService(url, process, log, time.perf_counter() - started)
    finally:
        stop(process)
