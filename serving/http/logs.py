"""Log hygiene of the service: a client's mistake is one line, and request text is escaped.

BentoML logs every refused request at ERROR with a full traceback (about 2.6 KB for a 400),
and writes the request path and pydantic's field locations verbatim, so a key or path holding a
newline forges a log line. `install` puts two filters on BentoML's loggers in the serving
process: `ClientErrors` turns a client error (4xx) into one WARNING line without traceback
naming route, status and offending fields, JSON-encoded; `Escaped` JSON-encodes any text
argument of any other line that holds a control character.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

__all__ = ["REQUEST_ERRORS", "ClientErrors", "Escaped", "install"]

#: BentoML's logger of exceptions raised while answering a request.
REQUEST_ERRORS: Final = "bentoml._internal.server.http_app"
#: Loggers whose lines may carry text taken from a request.
_REQUEST_LOGGERS: Final = (REQUEST_ERRORS, "bentoml.access", "mrbs.service")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str) and _CONTROL.search(value):
        return json.dumps(value)
    return value


def _client_status(error: BaseException | None) -> int | None:
    """The 4xx status BentoML answers ``error`` with, or None for a server error."""
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return 400
    if isinstance(error, BentoMLException):
        status = int(error.error_code)
        return status if 400 <= status < 500 else None
    return None


class Escaped(logging.Filter):
    """JSON-encode every text argument holding a control character (a newline, say)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_escaped(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _escaped(arg) for key, arg in record.args.items()}
        return True


class ClientErrors(logging.Filter):
    """A request BentoML refused for the client's mistake: one WARNING line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        status = _client_status(error)
        if status is None:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        line: dict[str, Any] = {
            "event": "request refused",
            "status": status,
            "route": str(args[0]) if args else "",
            "method": str(args[1]) if len(args) > 1 else "",
            "error": type(error).__name__,
        }
        errors = getattr(error, "errors", None)
        if callable(errors):
            line["fields"] = [
                ".".join(str(part) for part in item["loc"])
                for item in errors(include_input=False, include_url=False)
            ]
        record.msg, record.args = "%s", (json.dumps(line, ensure_ascii=True),)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text = None, None
        return True


def install() -> None:
    """Put the filters on the request loggers of this process, once."""
    for name in _REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if name == REQUEST_ERRORS and not any(isinstance(f, ClientErrors) for f in logger.filters):
            logger.addFilter(ClientErrors())
        if not any(isinstance(f, Escaped) for f in logger.filters):
            logger.addFilter(Escaped())
