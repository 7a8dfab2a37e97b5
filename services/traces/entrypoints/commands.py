"""The traces service's command queue: each command type routed to its handler."""

from services.traces import handlers
from shared.contracts.traces import FindMissingTraces, GetTrace, IngestOtlpExport, IngestTraces, ListTraces
from shared.messaging.commands import CommandRoute, routes_for


def command_routes(deps: handlers.Dependencies) -> dict[str, CommandRoute]:
    return routes_for(
        {
            IngestTraces: handlers.ingest_traces,
            IngestOtlpExport: handlers.ingest_otlp_export,
            GetTrace: handlers.get_trace,
            FindMissingTraces: handlers.find_missing_traces,
            ListTraces: handlers.list_traces,
        },
        deps,
    )
