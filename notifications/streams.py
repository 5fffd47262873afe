"""The Redis keys of the pipeline, and a typed view of what redis-py returns for stream reads."""

from __future__ import annotations

from dataclasses import dataclass

Entry = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class StreamNames:
    stream: str  # events waiting for delivery
    dead: str  # events that ran out of attempts
    group: str = "delivery"

    @classmethod
    def for_prefix(cls, prefix: str) -> StreamNames:
        return cls(stream=f"{prefix}notifications", dead=f"{prefix}notifications:dead")


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def entries(raw: object) -> list[Entry]:
    """``[(id, {field: value})]`` from an XRANGE / XCLAIM style reply; entries deleted meanwhile (no fields)
    are kept with empty fields so the caller can acknowledge them."""
    result: list[Entry] = []
    for entry_id, fields in raw if isinstance(raw, list) else []:
        mapping = fields if isinstance(fields, dict) else {}
        result.append((_text(entry_id), {_text(k): _text(v) for k, v in mapping.items()}))
    return result


def read_entries(raw: object) -> list[Entry]:
    """Entries from an XREAD / XREADGROUP reply (``[[stream, entries], …]``)."""
    result: list[Entry] = []
    for _stream, stream_entries in raw if isinstance(raw, list) else []:
        result.extend(entries(stream_entries))
    return result


def ids(raw: object) -> list[str]:
    return [_text(i) for i in raw] if isinstance(raw, list) else []
