"""Trivial structlog processors for the benchmarks: what one user processor costs per record.

``GUNICORN_LOGGERS_PROCESSORS=benchmarks.bench_processors.add_field`` (from the
repository root, so that ``benchmarks`` is importable).
"""

from __future__ import annotations

from typing import Any

#: The key ``add_field`` adds to every record; the benchmarks check that it is there.
FIELD = "bench_processor"
VALUE = "add_field"


def add_field(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Add one constant top-level field, as the simplest enrichment processor would."""
    event_dict[FIELD] = VALUE
    return event_dict
