"""The filter's steps: readers, the text check, near-duplicates, the cascade's two scoring stages, the
router and the writers, each a `PipelineStep` (step.py). passes.py lists them in order for each pass."""
