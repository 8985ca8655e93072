"""A real gunicorn whose lines go to a receiver, and the fixture factory that points it at one by URL."""

from __future__ import annotations

from pathlib import Path

from tests.gunicorn_process import Gunicorn


class NetworkGunicorn(Gunicorn):
    """A real gunicorn whose lines may only reach a receiver: its start-up lines are read from there too."""

    def __init__(self, tmp_path: Path, *args: str, receiver=None, **kwargs) -> None:
        super().__init__(tmp_path, *args, **kwargs)
        self.receiver = receiver

    def all_output(self) -> str:
        """Local output, then what the receiver got from this master and from any worker booting.

        Only the master's own records count for its "Listening at" line: a receiver may
        be shared by several servers. Any "Booting worker" line will do, as ``start()``
        then waits for the port to answer anyway.
        """
        text = super().all_output()
        if self.receiver is not None and self.proc is not None:
            text += "\n" + self.receiver.text(self.proc.pid)
            if "Booting worker" in self.receiver.text():
                text += "\nBooting worker"
        return text

    def error_records(self) -> list[dict]:
        """The local error log; OtlpLogger writes it in the otel schema, flattened here to the fields tests read."""
        return [_flat_otel(r) if "resourceLogs" in r else r for r in super().error_records()]

    def delivery_reports(self) -> list[dict]:
        """The engine's reports, read from the local error log."""
        return [r for r in self.error_records() if "delivery" in r]

    def exit_reports(self) -> list[dict]:
        return [r for r in self.delivery_reports() if " at exit: " in r["message"]]

    def balanced_exit_stats(self, processes: int | None = 2) -> list[dict]:
        """The exit totals of each of ``processes`` processes (``None``: at least one); each must add
        up with nothing pending."""
        reports = [r["delivery"] for r in self.exit_reports()]
        if processes is None:
            assert reports, self.all_output()[-3000:]
        else:
            assert len(reports) == processes, self.all_output()[-3000:]
        for stats in reports:
            assert stats["delivered"] + stats["dropped"] == stats["produced"], stats
            assert stats["pending"] == 0, stats
        return reports


def url_logger(network_gunicorn, logger_class: str, receiver_type: type, receiver_env=lambda receiver: {}):
    """``start(receiver_or_url, *args, env=..., ...)``: a gunicorn whose logger sends to ``GUNICORN_LOGGERS_URL``.

    Given a receiver, the URL is its own and ``receiver_env(receiver)`` is added (the
    HTTP format it expects, say); given a text, that is the URL and there is no receiver.
    """

    def start(target, *args, env=None, **kwargs) -> NetworkGunicorn:
        receiver = target if isinstance(target, receiver_type) else None
        environment = {"GUNICORN_LOGGERS_URL": target.url if receiver is not None else target}
        if receiver is not None:
            environment.update(receiver_env(receiver))
        environment.update(env or {})
        return network_gunicorn(*args, receiver=receiver, logger_class=logger_class, env=environment, **kwargs)

    return start


def _flat_otel(line: dict) -> dict:
    """``message``, ``process.pid`` and ``delivery`` of a one-record OTLP/JSON line."""
    from gunicorn_loggers.schemas.otlp_json import plain_value

    resource_logs = line["resourceLogs"][0]
    record = resource_logs["scopeLogs"][0]["logRecords"][0]
    attributes = {kv["key"]: plain_value(kv["value"]) for kv in record.get("attributes", [])}
    resource = {kv["key"]: plain_value(kv["value"]) for kv in resource_logs["resource"]["attributes"]}
    flat = {"message": record["body"].get("stringValue", ""), "process": {"pid": resource.get("process.pid")}}
    if "delivery" in attributes:
        flat["delivery"] = attributes["delivery"]
    return flat
