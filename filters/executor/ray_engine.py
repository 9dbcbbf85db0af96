"""The Ray engine: the same jobs, scheduled by Ray Data onto stateful actors.

Each actor loads the detector once and runs whole jobs (a source's signatures, or a shard through
reader -> ... -> writers), so commits stay per shard and the output is the same, byte for byte, as the
local engine's. Actors ask for a GPU each when the cluster has GPUs. Against an existing cluster
(--address), the workers must have synthsieve installed and see the same input and output paths.

Jobs travel through Ray Data as their descriptions (`job.to_dict()` as a JSON string, which Arrow holds
as text) and results come back as JSON strings: this engine never pickles or unpickles anything. Only
the detector loader, a small recipe of this package, goes to the actors as Ray sends constructor
arguments.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable, Iterator

from filters.executor.jobs import ShardJob, WorkerContext, run_job


class JobActor:
    """A Ray Data callable class: one instance per actor, one model per instance."""

    def __init__(self, detector_loader, threads: int):
        from filters.executor.local_engine import _set_threads

        _set_threads(threads)
        self.context = WorkerContext(detector_loader=detector_loader)

    def __call__(self, batch: dict) -> dict:
        return {"result": [json.dumps(run_job(json.loads(str(job)), self.context)) for job in batch["job"]]}


class RayEngine:
    def __init__(self, workers: int = 1, detector_loader=None, address: str | None = None):
        self.workers = max(1, workers)
        self.detector_loader = detector_loader
        self.address = address
        self._started_ray = False

    def _connect(self):
        try:
            import ray
        except ImportError as error:
            raise RuntimeError('the Ray engine needs Ray: pip install "synthsieve[ray]" '
                               '(or pip install "ray[data]")') from error
        if not ray.is_initialized():
            # Local workers import this code from where the driver does.
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths),
                                        "TOKENIZERS_PARALLELISM": "false"}}
            if self.address:
                ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=False)
            else:
                ray.init(num_cpus=max(self.workers, 1), include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env)
            self._started_ray = True
        return ray

    def run(self, jobs: Iterable, progress) -> Iterator[dict]:
        jobs = list(jobs)
        if not jobs:
            return
        ray = self._connect()
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        # Only shards load the model; signing is CPU work and never holds a GPU.
        gpus = int(ray.cluster_resources().get("GPU", 0)) if isinstance(jobs[0], ShardJob) else 0
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        threads = max(1, cpus // self.workers)
        dataset = ray.data.from_items([{"job": json.dumps(job.to_dict())} for job in jobs],
                                      override_num_blocks=len(jobs))
        loader = self.detector_loader.for_device("cuda") if gpus and hasattr(self.detector_loader, "for_device") \
            else self.detector_loader
        mapped = dataset.map_batches(
            JobActor, fn_constructor_kwargs={"detector_loader": loader, "threads": threads},
            batch_size=1, concurrency=min(self.workers, len(jobs), gpus or self.workers),
            num_gpus=1 if gpus else 0, num_cpus=1 if not gpus else 0)
        for row in mapped.iter_rows():
            result = json.loads(row["result"])
            counts = result.get("counts") or {}
            progress.update(counts.get("documents", result.get("records", 0)), counts.get("partitions"))
            yield result

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False
