"""synthsieve as a Hugging Face `datasets` map (optional extra: `pip install "synthsieve[datasets]"`).

    from datasets import load_dataset
    from filters.integrations.hf_datasets import make_synthsieve_map, synthsieve_map

    dataset = load_dataset("json", data_files="crawl.jsonl", split="train")
    dataset = dataset.map(synthsieve_map, batched=True)            # the shipped model, its thresholds
    dataset = dataset.map(make_synthsieve_map(text_column="content", suspect=0.9), batched=True)
    kept = dataset.filter(lambda row: row["synthsieve"]["decision"] != "suspected_synthetic")

The map adds two columns and changes none:
- `synthsieve`: the `synthsieve` object of `synthsieve filter`'s rows (p_machine, decision,
  decided_by, reasons, language, n_tokens, cluster_id, cluster_size, source, date), built by the same
  function (`filters.pipeline.rows.annotation`), plus `quarantine` (null, or the reason and detail for
  a text the filter would quarantine: empty, binary, not a string);
- `synthsieve_model`: the model id and hash, the reference LM, the token cap and the thresholds
  (`filters.integrations.annotator.model_record`).
Scores and decisions are those of `synthsieve filter` with the same options (same model, thresholds
and cascade); `source` is null (the dataset is the source) and `date` comes from the `date` column
when there is one.

Use `batched=True`: the detector scores whole batches (the map's batch_size, default 1000, is cut
into detector calls of the options' batch_size). The columns have a fixed Arrow type
(`SYNTHSIEVE_TYPE`, `MODEL_TYPE`) whatever a batch holds: `Dataset.map` gets each batch back as an
Arrow table, the dataset's columns unchanged beside the two new ones. A consequence: `remove_columns=`
does not apply to it, so drop columns before or after the map (`dataset.remove_columns([...])`).
With `num_proc=N`, each process loads the detector once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from filters.integrations.annotator import SynthsieveOptions, annotator_for

SYNTHSIEVE_COLUMN = "synthsieve"
MODEL_COLUMN = "synthsieve_model"

_REASON = pa.struct([("feature", pa.string()), ("value", pa.float64()), ("contribution", pa.float64())])
# The Arrow type of `filters.pipeline.rows.annotation` for a record with no displaced fields (a dataset
# record keeps its own columns). Its fields are checked against every batch's objects, so a field
# added to the one definition fails loudly here rather than vanishing from the column.
SYNTHSIEVE_TYPE = pa.struct([
    ("p_machine", pa.float64()),
    ("decision", pa.string()),
    ("decided_by", pa.string()),
    ("reasons", pa.list_(_REASON)),
    ("language", pa.string()),
    ("n_tokens", pa.int64()),
    ("cluster_id", pa.string()),
    ("cluster_size", pa.int64()),
    ("source", pa.struct([("file", pa.string())])),
    ("date", pa.string()),
    ("quarantine", pa.struct([("reason", pa.string()), ("detail", pa.string())])),
])
MODEL_TYPE = pa.struct([
    ("model_id", pa.string()), ("model_hash", pa.string()), ("reference_model_id", pa.string()),
    ("token_cap", pa.int64()), ("precision", pa.string()), ("ground", pa.float64()), ("suspect", pa.float64()),
])


class SynthsieveMap:
    """A batched map function for `datasets.Dataset.map`: adds the `synthsieve` and `synthsieve_model`
    columns (see the module's docstring). Build one with `make_synthsieve_map`.

    It holds only its options and the hash of the model's model.json: `datasets` fingerprints a map
    function by pickling it, so the fingerprint, and a cached result on disk, changes when the model
    does. The detector is loaded on the first batch, once per process.
    """

    def __init__(self, options: SynthsieveOptions, text_column: str = "text", date_column: str | None = "date"):
        self.options = options
        self.text_column = text_column
        self.date_column = date_column
        self.model_json_sha256 = _model_json_sha256(options.model_dir)

    def __call__(self, batch: dict) -> dict:
        if self.text_column not in batch:
            raise KeyError(f"synthsieve_map: no {self.text_column!r} column (columns: {', '.join(batch)}); "
                           "choose it with make_synthsieve_map(text_column=...)")
        texts = batch[self.text_column]
        if isinstance(texts, (str, bytes)) or not hasattr(texts, "__len__"):
            raise TypeError("synthsieve_map scores whole batches: call dataset.map(synthsieve_map, batched=True)")
        annotator = annotator_for(self.options)
        dates = batch.get(self.date_column) if self.date_column else None
        objects = annotator.annotate(list(texts), dates=list(dates) if dates is not None else None)
        expected = set(SYNTHSIEVE_TYPE.names)
        for synthsieve in objects:
            if set(synthsieve) != expected:
                raise RuntimeError(f"the synthsieve object has fields {sorted(synthsieve)}, the datasets column "
                                   f"type {sorted(expected)}: update SYNTHSIEVE_TYPE in {__name__}")
        columns = {SYNTHSIEVE_COLUMN: pa.array(objects, type=SYNTHSIEVE_TYPE),
                   MODEL_COLUMN: pa.array([annotator.model_record] * len(objects), type=MODEL_TYPE)}
        # `datasets` types new columns from the first batch it writes, and a field that is null in all of
        # it (no quarantined text, say, or only quarantined ones) stays null-typed, so a later batch
        # with a value there fails to write. A batch that is Arrow underneath (`Dataset.map`'s, a
        # LazyBatch) therefore goes back as a table: its own columns as they came, ours with their
        # fixed types. Any other batch (an IterableDataset's, a formatted one) gets plain lists.
        table = getattr(batch, "pa_table", None)
        if isinstance(table, pa.Table) and table.num_rows == len(objects):
            for name, array in columns.items():
                if name in table.column_names:  # annotating again replaces the earlier annotation
                    table = table.drop_columns([name])
                table = table.append_column(name, array)
            return table
        return {name: array.to_pylist() for name, array in columns.items()}

    def __repr__(self):
        return f"SynthsieveMap({self.options!r}, text_column={self.text_column!r}, date_column={self.date_column!r})"


def make_synthsieve_map(text_column: str = "text", date_column: str | None = "date", **options) -> SynthsieveMap:
    """A map function for `dataset.map(..., batched=True)` with these options.

    text_column: the column holding the text; date_column: a date per record (ISO string, datetime or
        Unix seconds), written as `synthsieve.date`; a missing column is fine.
    **options: `filters.integrations.annotator.SynthsieveOptions`: model_dir, reference_model,
        token_cap, device, precision, suspect, ground, full, batch_size (documents per detector call, 32),
        score_chars. Unset, each is what `synthsieve filter` uses.
    """
    return SynthsieveMap(SynthsieveOptions.from_keywords(**options), text_column=text_column,
                         date_column=date_column)


def _model_json_sha256(model_dir: str | None) -> str | None:
    from detector.detector import DEFAULT_MODEL_DIR, MODEL_JSON

    try:
        return hashlib.sha256((Path(model_dir or DEFAULT_MODEL_DIR) / MODEL_JSON).read_bytes()).hexdigest()
    except OSError:  # no model here: the first batch reports it in full, when the detector loads
        return None


synthsieve_map = make_synthsieve_map()
"""The shipped model with its thresholds, the text in `text`: `dataset.map(synthsieve_map, batched=True)`."""
