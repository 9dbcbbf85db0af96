"""The local engine: this process for one worker, else a pool of worker processes.

Workers are spawned (not forked: a forked copy of a process holding torch threads can deadlock) and
each loads the model once, on its first shard. Jobs go to them as their descriptions
(`job.to_dict()`, plain data), results come back as dicts, and progress comes back over a queue.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Iterable, Iterator

from filters.executor.jobs import WorkerContext, run_job

_context: WorkerContext | None = None


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def pool_shape(workers: int, jobs: int, cpus: int) -> tuple[int, int]:
    """(processes, torch threads each). Never more processes than jobs: an idle worker would hold its
    share of the cores for nothing (a 300-record run is one shard, and a lone 1-thread worker ran it at
    half speed on 2 cores)."""
    processes = max(1, min(workers, jobs))
    return processes, max(1, cpus // processes)


def _set_threads(threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _die_with_parent(parent_pid: int) -> None:
    """A worker orphaned by a kill -9 of the run must not go on writing into OUT beside the resumed run."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(detector_loader, progress_queue, threads: int, parent_pid: int) -> None:
    global _context
    _die_with_parent(parent_pid)
    _set_threads(threads)

    def report(docs, partitions):
        if docs:
            progress_queue.put((docs, partitions))

    _context = WorkerContext(detector_loader=detector_loader, report=report)


def _run_job(description: dict) -> dict:
    return run_job(description, _context)


class LocalEngine:
    def __init__(self, workers: int = 1, detector_loader=None, detector=None):
        if workers < 1:
            raise ValueError("--workers must be at least 1")
        self.workers = workers
        self.detector_loader = detector_loader
        self.detector = detector  # reused in-process when there is one worker

    def run(self, jobs: Iterable, progress) -> Iterator[dict]:
        jobs = list(jobs)
        if not jobs:
            return
        if self.workers == 1:
            context = WorkerContext(self.detector_loader, self.detector, report=progress.update)
            for job in jobs:
                yield run_job(job.to_dict(), context)  # the same description a worker process gets
            self.detector = context._detector
            return
        yield from self._run_pool(jobs, progress)

    def _run_pool(self, jobs: list, progress) -> Iterator[dict]:
        spawn = multiprocessing.get_context("spawn")
        progress_queue = spawn.Queue()
        stop = threading.Event()

        def drain():
            while not stop.is_set() or not progress_queue.empty():
                try:
                    docs, partitions = progress_queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                progress.update(docs, partitions)

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        processes, threads = pool_shape(self.workers, len(jobs), available_cpus())
        executor = ProcessPoolExecutor(max_workers=processes, mp_context=spawn, initializer=_init_worker,
                                       initargs=(self.detector_loader, progress_queue, threads, os.getpid()))
        try:
            remaining = list(reversed(jobs))
            running = set()
            # Keep only a few jobs queued per worker, so that a stop does not leave a long queue behind.
            while remaining or running:
                while remaining and len(running) < processes * 2:
                    running.add(executor.submit(_run_job, remaining.pop().to_dict()))
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            stop.set()
            drainer.join(timeout=5)
