"""synthsieve inside pipelines that crawl teams already run.

- datatrove.py: `SynthsieveFilter` (a datatrove BaseFilter that drops suspected_synthetic documents,
  sending them to its exclusion_writer) and `SynthsieveAnnotator` (a step that only annotates);
  optional extra `synthsieve[datatrove]`.
- hf_datasets.py: `synthsieve_map` and `make_synthsieve_map`, for `dataset.map(..., batched=True)`;
  optional extra `synthsieve[datasets]`.
- annotator.py: what they share, and nothing framework-specific: the options, the detector (loaded
  once per process) and the scoring of a batch of texts by the filter's own steps
  (`filters.pipeline.passes.annotation_pass`), into the `synthsieve` object of the filter's rows
  (`filters.pipeline.rows.annotation`).
"""
