"""Everything that changes what a run writes; the run's fingerprint is built from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from filters.pipeline.near_duplicates import MinHashSettings
from filters.pipeline.readers import ReaderOptions
from filters.pipeline.writers import FORMATS


@dataclass(frozen=True)
class FilterSettings:
    """text_field / id_field: JSON and Parquet field names; a record without an id gets a derived one.
    full: every document goes through the LM (no cascade).
    fmt: output format, "jsonl" (zstd-compressed JSON Lines) or "parquet".
    max_bytes: records larger than this go to quarantine as too_large and are never held whole.
    score_chars: the head of a document the detector sees; the rest is written out but not scored.
    shard_size: records per shard, the unit of work, of commit and of redo after a crash.
    batch_size: documents per detector call.
    token_cap: LM tokens scored per document.
    """

    text_field: str = "text"
    id_field: str = "id"
    full: bool = False
    fmt: str = "jsonl"
    max_bytes: int = 8 << 20
    score_chars: int = 16384
    shard_size: int = 1000
    batch_size: int = 32
    token_cap: int = 512
    minhash: MinHashSettings = field(default_factory=MinHashSettings)

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {self.fmt!r}")
        for name in ("max_bytes", "score_chars", "shard_size", "batch_size", "token_cap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")

    @property
    def reader_options(self) -> ReaderOptions:
        return ReaderOptions(self.text_field, self.id_field, self.max_bytes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["format"] = data.pop("fmt")
        data["minhash"] = self.minhash.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FilterSettings":
        data = dict(data)
        data["fmt"] = data.pop("format", "jsonl")
        minhash = data.pop("minhash", {}) or {}
        known = {k: v for k, v in minhash.items() if k in MinHashSettings.__dataclass_fields__}
        return cls(minhash=MinHashSettings(**known),
                   **{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
