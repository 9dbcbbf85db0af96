"""Runs a filter in a subprocess for the kill-and-resume tests, optionally killing itself (SIGKILL)
at a chosen point of the crash-safety protocol.

    python -m tests.helpers.filter_runner OUT INPUT...   (in the repository root) [--kill POINT:N] [--delay S] [--workers N]

POINT: sign (inside the signature pass, after N documents), cluster (after the cluster table is
written, before its completion record), lm (at the Nth LM call, mid-shard), publish (right after the
Nth partition file is renamed into place, before the shard's record), done (after N shard records).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from tests.helpers.fake_detector import FakeDetectorLoader


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill(point: str, n: int) -> dict:
    """Returns loader overrides; patches the protocol step named by `point`."""
    calls = {"count": 0}

    def tick():
        calls["count"] += 1
        if calls["count"] >= n:
            die()

    if point == "lm":
        return {"die_after_lm_calls": n}
    if point == "sign":
        from filters.pipeline import near_duplicates as minhash

        original = minhash.MinHashSigner.signature

        def signature(self, text):
            tick()
            return original(self, text)

        minhash.MinHashSigner.signature = signature
    elif point == "cluster":
        from filters.executor import run

        original_write = run.write_json

        def write_json(path, data):
            if Path(path).name == "clusters.json":
                die()
            return original_write(path, data)

        run.write_json = write_json
    elif point == "publish":
        from filters.pipeline import writers

        original_publish = writers.publish

        def publish(temporary, final):
            original_publish(temporary, final)
            tick()

        writers.publish = publish
    elif point == "done":
        from filters.store.state import RunState

        original_mark = RunState.mark_shard_done

        def mark(self, key, record):
            original_mark(self, key, record)
            tick()

        RunState.mark_shard_done = mark
    else:
        raise SystemExit(f"unknown kill point {point}")
    return {}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--kill", default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shard-size", type=int, default=40)
    args = parser.parse_args()
    overrides = {}
    if args.kill:
        point, count = args.kill.split(":")
        overrides = install_kill(point, int(count))
    from filters.executor.run import run_filter
    from filters.executor.settings import FilterSettings

    loader = FakeDetectorLoader(delay=args.delay, **overrides)
    run_filter(args.inputs, args.out, FilterSettings(shard_size=args.shard_size, batch_size=8),
               detector_loader=loader, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
