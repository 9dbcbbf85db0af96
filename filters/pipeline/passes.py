"""The pipeline, in one place: the steps each pass of a filter run sends documents through, in order.

An engine (filters/executor) runs a job per input or per shard, and a job runs one of these lists with
`run_pipeline`; it knows nothing of the steps themselves, as datatrove's executors receive "a list of
PipelineStep". To add a step, write a `PipelineStep` (step.py) and put it in the list where it belongs.

Pass 1, per input (`signature_pass`): read -> check the text -> MinHash signature (stored on disk by
the job, then clustered over the whole run).
Pass 2, per shard (`shard_pass`): read -> check the text -> cluster of each document -> cheap stage ->
reference LM -> decide -> write the partitions -> write quarantine.
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
    if not settings.full:
        steps.append(CheapScorer(detector, thresholds, max(settings.batch_size, CHEAP_BATCH)))
    steps += [LMScorer(detector, thresholds, settings.batch_size), Router(thresholds),
              PartitionWriter(out_dir, shard_key, settings.fmt), QuarantineWriter(out_dir, shard_key, settings.fmt)]
    return steps
