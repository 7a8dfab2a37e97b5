"""Severity of a clustered issue, from how often it fails and for how many customers."""

SEVERITY_STEPS = (  # (severity, at least this many affected customers, or at least this many traces)
    ("critical", 25, 100),
    ("high", 10, 30),
    ("medium", 3, 10),
)


def severity_for(trace_count: int, affected_customers: int) -> str:
    """critical from 25 customers or 100 traces; high from 10 or 30; medium from 3 or 10;
    low below. Breadth (customers) weighs more than volume: one customer retrying ten times
    is one unhappy customer."""
    for severity, customers, traces in SEVERITY_STEPS:
        if affected_customers >= customers or trace_count >= traces:
            return severity
    return "low"
