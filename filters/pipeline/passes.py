"""The pipeline, in one place: the steps each pass of a filter run sends documents through, in order.

An engine (filters/executor) runs a job per input or per shard, and a job runs one of these lists with
`run_pipeline`; it knows nothing of the steps themselves, as datatrove's executors receive "a list of
PipelineStep". To add a step, write a `PipelineStep` (step.py) and put it in the list where it belongs.

Pass 1, per input (`signature_pass`): read -> check the text -> MinHash signature (stored on disk by
the job, then clustered over the whole run).
Pass 2, per shard (`shard_pass`): read -> check the text -> cluster of each document -> cheap stage ->
reference LM -> decide -> write the partitions -> write quarantine.
Annotation, per batch of records a host pipeline holds (`annotation_pass`, for datatrove and `datasets`
in filters/integrations): check the text -> cheap stage -> reference LM -> decide. The scoring steps of
both (`scoring_steps`) are one list, so a document gets the same score and decision either way.
"""

from __future__ import annotations

from pathlib import Path

from filters.pipeline.near_duplicates import ClusterAnnotator, ClusterTable, MinHashSigner, SignatureStore
from filters.pipeline.normaliser import Normaliser
from filters.pipeline.readers import InputSource, make_reader
from filters.pipeline.router import Router
from filters.pipeline.scoring import CheapScorer, LMScorer
from filters.pipeline.step import PipelineStep
from filters.pipeline.writers import PartitionWriter, QuarantineWriter

# The cheap stage costs little per document but something per call: it gets batches of at least this.
CHEAP_BATCH = 64


def signature_pass(source: InputSource, settings) -> list[PipelineStep]:
    """The near-duplicate pass over one whole input (`settings`: filters.executor.settings.FilterSettings)."""
    return [make_reader(source, settings.reader_options), Normaliser(settings.score_chars),
            MinHashSigner(settings.minhash)]


def shard_pass(source: InputSource, start: int, stop: int, signed: int, signatures: SignatureStore,
               out_dir: Path, shard_key: str, settings, detector, thresholds) -> list[PipelineStep]:
    """Records [start, stop) of one input, scored and written as shard `shard_key` under `out_dir`."""
    steps = [make_reader(source, settings.reader_options, start, stop),
             Normaliser(settings.score_chars),
             ClusterAnnotator(ClusterTable(signatures, source.index, signed), signatures.duplicate_ids())]
    steps += scoring_steps(detector, thresholds, full=settings.full, batch_size=settings.batch_size)
    steps += [PartitionWriter(out_dir, shard_key, settings.fmt), QuarantineWriter(out_dir, shard_key, settings.fmt)]
    return steps


def scoring_steps(detector, thresholds, *, full: bool, batch_size: int) -> list[PipelineStep]:
    """The cascade and the decision: cheap stage (unless `full`) -> reference LM -> decide."""
    steps: list[PipelineStep] = [] if full else [CheapScorer(detector, thresholds, max(batch_size, CHEAP_BATCH))]
    return steps + [LMScorer(detector, thresholds, batch_size), Router(thresholds)]


def annotation_pass(detector, thresholds, *, full: bool, batch_size: int, score_chars: int) -> list[PipelineStep]:
    """Documents handed over by another pipeline, scored and decided as a shard's are, but neither read
    nor written here. There is no near-duplicate pass: each document counts as a cluster of one (the
    host pipeline has its own deduplication)."""
    return [Normaliser(score_chars)] + scoring_steps(detector, thresholds, full=full, batch_size=batch_size)
