"""The background loop that assembles OTLP traces gone quiet (see `handlers.assemble_quiet_traces`)."""

import asyncio

import structlog

from services.traces import handlers

log = structlog.get_logger(__name__)


def quiet_trace_sweeper(deps: handlers.Dependencies):
    """Sweeps every quarter of the quiet period (at most every 5 seconds), at once again while
    a sweep found a full batch; a failed sweep is logged and tried at the next."""
    interval = min(deps.quiet_period.total_seconds() / 4, 5.0)

    async def run() -> None:
        while True:
            try:
                while await handlers.assemble_quiet_traces(deps) == handlers.SWEEP_BATCH:
                    pass
            except Exception as error:
                log.warning("quiet OTLP traces not assembled yet; will retry", error=repr(error))
            await asyncio.sleep(interval)

    return run
