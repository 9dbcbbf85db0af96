"""Units of work that any engine runs: signing one source (pass 1) and filtering one shard (pass 2).

A job carries everything it needs and touches only its own files, so it can run in this process, a
worker process or a Ray actor, and running it again after a crash gives the same result. A job is
data: `to_dict` describes it in plain JSON types, and that description is what crosses process
boundaries (`run_job` runs one); results are JSON-able dicts too.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from filters.executor.settings import FilterSettings
from filters.pipeline.near_duplicates import SignatureStore
from filters.pipeline.passes import shard_pass, signature_pass
from filters.pipeline.readers import InputSource
from filters.pipeline.step import run_pipeline
from filters.pipeline.writers import PartitionWriter
from filters.store.manifest import ShardCounts
from filters.store.state import RunState

_PROGRESS_EVERY = 64


class WorkerContext:
    """What a worker keeps between jobs: its detector, loaded on first use, and a progress sink."""

    def __init__(self, detector_loader=None, detector=None, report=None):
        self._loader = detector_loader
        self._detector = detector
        self.report = report or (lambda docs, partitions: None)

    @property
    def detector(self):
        if self._detector is None:
            self._detector = self._loader()
        return self._detector


class BatchedProgress:
    """Tells a progress sink about documents every _PROGRESS_EVERY of them, not on each one."""

    def __init__(self, report):
        self.report = report
        self.documents, self.partitions = 0, Counter()

    def add(self, partition: str | None = None) -> None:
        self.documents += 1
        if partition is not None:
            self.partitions[partition] += 1
        if self.documents >= _PROGRESS_EVERY:
            self.flush()

    def flush(self) -> None:
        self.report(self.documents, dict(self.partitions))
        self.documents, self.partitions = 0, Counter()


# How a job's fields that are not plain data are rebuilt from their descriptions.
_DECODE = {"source": InputSource.from_dict, "settings": FilterSettings.from_dict}


class JobDescription:
    """`to_dict`/`from_dict` for a job dataclass: its fields in JSON types, and its kind."""

    kind: ClassVar[str]

    def to_dict(self) -> dict:
        data = {"kind": self.kind}
        for item in fields(self):
            value = getattr(self, item.name)
            data[item.name] = value.to_dict() if hasattr(value, "to_dict") else value
        return data

    @classmethod
    def from_dict(cls, data: dict):
        if data.get("kind") != cls.kind:
            raise ValueError(f"not a {cls.kind} job: {data.get('kind')!r}")
        return cls(**{item.name: _DECODE.get(item.name, _same)(data[item.name]) for item in fields(cls)})


def _same(value):
    return value


@dataclass(frozen=True)
class SignatureJob(JobDescription):
    kind: ClassVar[str] = "signature"

    source: InputSource
    out_dir: str
    settings: FilterSettings

    def run(self, context: WorkerContext) -> dict:
        state = RunState(self.out_dir)
        steps = signature_pass(self.source, self.settings)

        progress = BatchedProgress(context.report)

        def counted(docs):
            for doc in docs:
                progress.add()
                yield doc
            progress.flush()

        store = SignatureStore(state.minhash_dir, self.settings.minhash)
        return {"kind": self.kind, **store.write(self.source.index, counted(run_pipeline(steps)))}


@dataclass(frozen=True)
class ShardJob(JobDescription):
    """Records [start, stop) of one source, filtered and written as shard `key`."""

    kind: ClassVar[str] = "shard"

    key: str
    source: InputSource
    start: int
    stop: int
    signed: int
    out_dir: str
    settings: FilterSettings
    thresholds: dict

    def steps(self, detector, thresholds):
        out = Path(self.out_dir)
        signatures = SignatureStore(RunState(out).minhash_dir, self.settings.minhash)
        return shard_pass(self.source, self.start, self.stop, self.signed, signatures, out, self.key,
                          self.settings, detector, thresholds)

    def run(self, context: WorkerContext) -> dict:
        from detector.decision import Thresholds

        state = RunState(self.out_dir)
        state.clear_shard(self.key)
        started = time.time()
        steps = self.steps(context.detector, Thresholds.from_dict(self.thresholds))
        writers = [s for s in steps if isinstance(s, PartitionWriter)]
        counts = ShardCounts()
        progress = BatchedProgress(context.report)
        try:
            for doc in run_pipeline(steps):
                counts.add(doc)
                progress.add(doc.partition)
            files = [item for writer in writers for item in writer.commit()]
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        progress.flush()
        record = {"kind": self.kind, "key": self.key, "source": self.source.index, "file": self.source.path,
                  "start": self.start, "stop": self.stop, "files": files, "counts": counts.to_dict(),
                  "stats": {step.name: dict(step.stats) for step in steps},
                  "seconds": round(time.time() - started, 3)}
        state.mark_shard_done(self.key, record)
        return record


JOBS = {job.kind: job for job in (SignatureJob, ShardJob)}


def job_from_dict(data: dict) -> SignatureJob | ShardJob:
    try:
        job = JOBS[data["kind"]]
    except (KeyError, TypeError):
        raise ValueError(f"not a job description: {str(data)[:200]}") from None
    return job.from_dict(data)


def run_job(description: dict, context: WorkerContext) -> dict:
    """Runs the job that `description` (a job's `to_dict`) describes; how workers get their jobs."""
    return job_from_dict(description).run(context)


def shard_key(source_index: int, chunk: int) -> str:
    return f"{source_index:05d}-{chunk:05d}"


def plan_shards(sources: list[InputSource], signature_records: dict[int, dict], out_dir: str,
                settings: FilterSettings, thresholds: dict) -> list[ShardJob]:
    jobs = []
    for source in sources:
        record = signature_records[source.index]
        for chunk, start in enumerate(range(0, record["records"], settings.shard_size)):
            stop = min(start + settings.shard_size, record["records"])
            jobs.append(ShardJob(shard_key(source.index, chunk), source.slice_files(start, stop), start, stop,
                                 record["signed"], out_dir, settings, thresholds))
    return jobs
