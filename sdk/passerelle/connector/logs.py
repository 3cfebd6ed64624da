"""How a connector writes its log: lines for people, or JSON objects for a log collector."""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

__all__ = ["LogFormat", "LogLevel", "configure_logging"]

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    """``2026-03-02 17:00:00,000 INFO passerelle.dispatcher: delivery 12 ... done: ...``"""
    JSON = "json"
    """One object a line: ``time``, ``level``, ``logger``, ``message`` and the record's own
    fields (a settled delivery's ``delivery``, ``platform``, ``store``, ``order``, ``outcome``,
    ``code``, ``until``)."""


def configure_logging(level: LogLevel, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send every log record of the process, uvicorn's included, to `stream` (standard error)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
