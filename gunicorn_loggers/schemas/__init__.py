"""Field schemas: what a record says and under which names.

A schema turns neutral facts (:class:`~gunicorn_loggers.request_facts.AccessFacts`,
:class:`~gunicorn_loggers.log_facts.LogFacts`) into a plain dict. It knows
nothing of encoders or sinks, so every sink can carry every schema.
"""

from __future__ import annotations

from ..config import Settings
from ._base import Schema
from .ecs import EcsSchema
from .flat import FlatSchema
from .gcp import GcpSchema
from .otel import OtelSchema

SCHEMA_CLASSES: dict[str, type[Schema]] = {
    "ecs": EcsSchema,
    "otel": OtelSchema,
    "gcp": GcpSchema,
    "flat": FlatSchema,
}


def build_schema(settings: Settings) -> Schema:
    """The schema the settings name, ready to build records."""
    return SCHEMA_CLASSES[settings.schema](settings)


__all__ = ["SCHEMA_CLASSES", "EcsSchema", "FlatSchema", "GcpSchema", "OtelSchema", "Schema", "build_schema"]
