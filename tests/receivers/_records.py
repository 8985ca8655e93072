"""What the receivers read out of a record the loggers wrote: the process it came from, its URL path."""


def _from(record: dict, pid: int | None) -> bool:
    return pid is None or (record.get("process") or {}).get("pid") == pid


def _path_of(record: dict) -> str | None:
    url = record.get("url")
    return url.get("path") if isinstance(url, dict) else None
