"""Log hygiene: a client's mistake is one escaped WARNING line; request text never forges a line."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pydantic import ValidationError

from features.schema import patient_model
from serving.http.logs import ClientErrors, Escaped


def _record(error: BaseException | None, path: str) -> logging.LogRecord:
    """The record BentoML's `log_exception` makes for a request that raised ``error``."""
    info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord(
        "bentoml._internal.server.http_app",
        logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        (path, "POST"),
        info,
    )


def _validation_error() -> ValidationError:
    try:
        patient_model().model_validate({"sledai_2k": True, "bad\nFORGED ERROR line": 1})
    except ValidationError as error:
        return error
    raise AssertionError("the record should not validate")


def test_a_client_error_becomes_one_warning_line_without_traceback() -> None:
    record = _record(_validation_error(), "/predict")
    assert ClientErrors().filter(record)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["status"] == 400
    assert logged["route"] == "/predict"
    assert "sledai_2k" in logged["fields"]
    assert "bad\nFORGED ERROR line" in logged["fields"]  # escaped in the line, kept in the JSON


def test_a_server_error_keeps_its_traceback_and_escapes_the_path() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(sys.exc_info()[1], "/predict\nFORGED")
    assert ClientErrors().filter(record)
    assert Escaped().filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "\n" not in record.getMessage()


@pytest.mark.parametrize("text", ["/predict\r\nX", "/p\x1b[31m", "/p\u2028x"])
def test_control_characters_in_any_argument_are_escaped(text: str) -> None:
    record = logging.LogRecord("bentoml.access", logging.INFO, __file__, 1, "%s", (text,), None)
    Escaped().filter(record)
    assert record.getMessage() == json.dumps(text)
