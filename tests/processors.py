"""structlog processors the tests name in GUNICORN_LOGGERS_PROCESSORS."""

import structlog


def add_region(logger, method_name, record):
    record["region"] = "eu-west-1"
    return record


def drop_marked(logger, method_name, record):
    if "drop me" in str(record):
        raise structlog.DropEvent
    return record


def explode(logger, method_name, record):
    raise ValueError("this processor is broken")


class ReturnsNothing:
    def __call__(self, logger, method_name, record):
        return None


def tenant_in_service(logger, method_name, record):
    """Changes nested values in place, as a user might: only this record may see it."""
    path = str((record.get("url") or {}).get("path", ""))
    if path.startswith("/tenant/"):
        record["service"]["name"] = "tenant-" + path.rsplit("/", 1)[-1]
        record["event"]["category"].append("tenant")
    return record


def method_name_seen(logger, method_name, record):
    """What structlog's method name was for this record: processors filter on it."""
    record["method_seen"] = method_name
    return record
