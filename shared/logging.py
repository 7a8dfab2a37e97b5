"""Structured logging: JSON lines when not on a TTY, coloured console otherwise.

Every line carries the service name and whatever is bound with
`structlog.contextvars.bind_contextvars`, notably `correlation_id`. Records from libraries
that use the standard `logging` module (aio-pika, pymongo, aiohttp) go through the same
renderer, so a log collector sees one format.
"""

import logging
import sys

import structlog


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()

    def add_service(_logger, _method, event_dict):
        event_dict.setdefault("service", service)
        return event_dict

    shared_processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
    ]
    exception_processors = [structlog.processors.format_exc_info] if json_output else []
    structlog.configure(
        processors=[*shared_processors, *exception_processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exception_processors, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
