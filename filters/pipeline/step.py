"""The pipeline step: one generator method and its own counters, in the style of datatrove."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import Iterable, Iterator

from filters.document import Document


class PipelineStep:
    """A stage of the filter. `run` takes documents and yields them (readers add their own first).

    Steps are engine-agnostic: the local engine and Ray build the same chain of steps per shard.
    `stats` counts what the step saw and did; the shard's completion record keeps them.
    """

    name = "step"

    def __init__(self):
        self.stats: Counter = Counter()

    def run(self, docs: Iterable[Document]) -> Iterator[Document]:
        raise NotImplementedError


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def run_pipeline(steps: list[PipelineStep], docs: Iterable[Document] = ()) -> Iterator[Document]:
    for step in steps:
        docs = step.run(docs)
    return iter(docs)
