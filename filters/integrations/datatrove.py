"""synthsieve as datatrove steps (optional extra: `pip install "synthsieve[datatrove]"`).

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from filters.integrations.datatrove import SynthsieveFilter

    LocalPipelineExecutor(pipeline=[
        JsonlReader("crawl/"),
        SynthsieveFilter(exclusion_writer=JsonlWriter("out/excluded")),
        JsonlWriter("out/kept"),
    ], tasks=4, logging_dir="out/logs").run()

`SynthsieveFilter` drops the documents synthsieve decides are `suspected_synthetic` and passes the rest
on; `SynthsieveAnnotator` drops nothing. Both write into each document's metadata:
- `synthsieve`: the `synthsieve` object of `synthsieve filter`'s rows (p_machine, decision,
  decided_by, reasons, language, n_tokens, cluster_id, cluster_size, source, date), built by the same
  function (`filters.pipeline.rows.annotation`), plus `quarantine` (null, or the reason and detail
  for a text the filter would quarantine: such documents are annotated and kept);
- `synthsieve_model`: the model id and hash, the reference LM, the token cap and the thresholds
  (`filters.integrations.annotator.model_record`).
A dropped document goes to `exclusion_writer` with both, and datatrove's `filter_reason`
"suspected_synthetic".

Scores and decisions are those of `synthsieve filter` with the same options (one model, thresholds,
cascade: the cheap stage decides alone where it is confident and never flags; the LM scores the rest),
documents scored `batch_size` at a time. Each worker process loads the detector once, on its first
document, and keeps it for the tasks it runs after. The steps themselves hold only their options.
"""

from __future__ import annotations

from datatrove.data import Document as DatatroveDocument
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.batching import batched
from datatrove.utils.logging import logger

from detector.decision import SUSPECTED
from filters.integrations.annotator import Annotator, SynthsieveOptions, annotator_for

METADATA_KEY = "synthsieve"
MODEL_METADATA_KEY = "synthsieve_model"
DROP_REASON = SUSPECTED  # datatrove's `filter_reason` of a dropped document, and its `dropped_...` stat


def _source(doc: DatatroveDocument) -> dict | None:
    """Where the document came from, as far as datatrove says: its readers record the input file."""
    path = doc.metadata.get("file_path")
    return {"file": str(path)} if path is not None else None


def _annotate(step: PipelineStep, annotator: Annotator, docs: list[DatatroveDocument]) -> list[dict]:
    """Scores a batch and writes each document's `synthsieve` and `synthsieve_model` metadata."""
    objects = annotator.annotate([doc.text for doc in docs], sources=[_source(doc) for doc in docs],
                                 dates=[doc.metadata.get("date") for doc in docs])
    for doc, synthsieve in zip(docs, objects):
        doc.metadata[METADATA_KEY] = synthsieve
        doc.metadata[MODEL_METADATA_KEY] = dict(annotator.model_record)
        step.stat_update(f"synthsieve_{synthsieve['decision']}")
    return objects


def _start(options: SynthsieveOptions, rank: int) -> Annotator:
    annotator = annotator_for(options)
    record = annotator.model_record
    # Into the task's log (logging_dir/logs/task_NNNNN.log): which model and thresholds judged this task.
    logger.info(f"synthsieve (task {rank}): model {record['model_id']} (sha256 {record['model_hash'][:16]}), "
                f"reference LM {record['reference_model_id']}, token cap {record['token_cap']}, "
                f"ground {record['ground']:.4g}, suspect {record['suspect']:.4g}; "
                f"full provenance: {annotator.provenance}")
    return annotator


class SynthsieveFilter(BaseFilter):
    """Drops the documents synthsieve decides are `suspected_synthetic`; annotates every document.

    exclusion_writer: a datatrove writer for the dropped documents (with their metadata and
        `filter_reason` "suspected_synthetic"), or None to discard them.
    batch_size: documents per detector call (the filter's --batch-size; 32).
    suspect: drop at or above this p_machine instead of the model's threshold, as `synthsieve filter
        --suspect P`. The decision rule still applies: text the reference LM cannot judge (not
        English, under 50 tokens) is flagged only when p_machine is overwhelming, and the cheap stage
        never flags alone.
    **options: the other `SynthsieveOptions` (model_dir, reference_model, token_cap, device, ground,
        full, score_chars).
    """

    name = "🤖 synthsieve"

    def __init__(self, exclusion_writer: DiskWriter | None = None, batch_size: int = 32,
                 suspect: float | None = None, **options):
        super().__init__(exclusion_writer=exclusion_writer, batch_size=batch_size)
        self.options = SynthsieveOptions.from_keywords(batch_size=batch_size, suspect=suspect, **options)
        self._annotator: Annotator | None = None
        self._rank = 0

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self._rank = rank  # for the log line: BaseFilter.run hands filter_batch the documents only
        yield from super().run(data, rank, world_size)

    def filter_batch(self, batch: list[DatatroveDocument]) -> list[bool | tuple[bool, str]]:
        if self._annotator is None:  # on the first batch: a task with no documents loads nothing
            self._annotator = _start(self.options, self._rank)
        objects = _annotate(self, self._annotator, batch)
        return [(False, DROP_REASON) if synthsieve["decision"] == SUSPECTED else True for synthsieve in objects]

    def filter(self, doc: DatatroveDocument) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def __getstate__(self):
        # A step is copied and pickled for every task: it travels as its options, never with a model.
        return {**self.__dict__, "_annotator": None}


class SynthsieveAnnotator(PipelineStep):
    """Writes the `synthsieve` and `synthsieve_model` metadata of every document and drops none.

    Takes the same options as `SynthsieveFilter` (batch_size, suspect, ground, model_dir,
    reference_model, token_cap, device, full, score_chars); the decision follows them.
    """

    name = "🤖 synthsieve annotator"
    type = "🏷 - ANNOTATOR"

    def __init__(self, batch_size: int = 32, **options):
        super().__init__()
        self.options = SynthsieveOptions.from_keywords(batch_size=batch_size, **options)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        annotator = None
        for batch in batched(data, self.options.batch_size):
            if annotator is None:  # on the first batch: a task with no documents loads nothing
                annotator = _start(self.options, rank)
            with self.track_time("batch"):
                _annotate(self, annotator, batch)
            for doc in batch:
                self.stat_update("total")
                self.update_doc_stats(doc)
                yield doc
