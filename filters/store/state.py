"""The run's durable state under OUT/.synthsieve: what it is, and which pieces of it are done.

Protocol (every write by `atomic`: temporary name, fsync, rename, fsync of the directory):
  run.json          written first; the fingerprint of inputs, settings, model and thresholds.
  minhash/NNNNN.json  source NNNNN's signatures are complete (written after its .bin files).
  minhash/clusters.json  the near-duplicate table is complete (written after the clu-*.bin files).
  shards/KEY.json   shard KEY is complete: its partition files are published; lists them with hashes.
A shard without its record is redone from scratch: its published or temporary files are deleted first.
"""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

from filters.store.atomic import OutputError, describe_output_error, read_json, remove_temporaries, write_json
from filters.document import PARTITIONS

STATE_DIR = ".synthsieve"
MANIFEST = "manifest.json"
# The run's calibration inputs: the human reference's scores and the model's held-out score
# distributions (filters/executor/reference.py); part of the output, beside the manifest.
CALIBRATION_DIR = "calibration"


class RunMismatchError(RuntimeError):
    """OUT holds a different run (other inputs, settings or model) and --restart was not given."""


class RunState:
    def __init__(self, out_dir):
        self.out = Path(out_dir)
        self.dir = self.out / STATE_DIR
        self.minhash_dir = self.dir / "minhash"
        self.shards_dir = self.dir / "shards"
        self._lock_handle = None

    # -- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        try:
            for directory in (self.out, self.dir, self.minhash_dir, self.shards_dir):
                directory.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".write-probe.tmp"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            raise describe_output_error(error, self.out) from error

    def lock(self) -> None:
        """One run per output directory; the lock dies with the process, even on kill -9."""
        self._lock_handle = open(self.dir / "lock", "a+")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"another synthsieve run is writing to {self.out}; wait for it or use another --out")

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def has_foreign_content(self) -> bool:
        if not self.out.exists():
            return False
        ours = {STATE_DIR, MANIFEST, CALIBRATION_DIR, *PARTITIONS}
        return any(entry.name not in ours for entry in self.out.iterdir())

    def wipe(self) -> None:
        """--restart: remove what a previous run wrote (only synthsieve's own names)."""
        for name in PARTITIONS:
            shutil.rmtree(self.out / name, ignore_errors=True)
        (self.out / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(self.out / CALIBRATION_DIR, ignore_errors=True)
        for name in ("minhash", "shards"):
            shutil.rmtree(self.dir / name, ignore_errors=True)
        (self.dir / "run.json").unlink(missing_ok=True)

    # -- the run's identity --------------------------------------------------------------------

    def identity(self) -> dict | None:
        return read_json(self.dir / "run.json")

    def check_identity(self, identity: dict, restart: bool) -> str:
        """'new', 'resume' or 'restart'; raises RunMismatchError when OUT holds another run."""
        existing = self.identity()
        if existing is None:
            if self.has_foreign_content() and not restart:
                raise RunMismatchError(f"{self.out} is not empty and holds no synthsieve run; "
                                       "choose an empty --out or pass --restart to write into it anyway")
            if (self.out / MANIFEST).exists() or any((self.out / p).exists() for p in PARTITIONS):
                self.wipe()
            return "new"
        if existing.get("fingerprint") == identity["fingerprint"]:
            return "resume"
        if not restart:
            differences = ", ".join(_differences(existing, identity)) or "the fingerprint"
            raise RunMismatchError(
                f"{self.out} holds a run with other {differences}; refusing to mix them. "
                "Use another --out, or pass --restart to discard that run and start over.")
        self.wipe()
        return "restart"

    def save_identity(self, identity: dict) -> None:
        self.prepare()
        write_json(self.dir / "run.json", identity)

    # -- shards --------------------------------------------------------------------------------

    def shard_record(self, key: str) -> dict | None:
        """The completion record of a shard, if it is done and its files are all still there."""
        record = read_json(self.shards_dir / f"{key}.json")
        if record is None:
            return None
        for item in record.get("files", []):
            path = self.out / item["path"]
            if not path.exists() or path.stat().st_size != item["bytes"]:
                (self.shards_dir / f"{key}.json").unlink(missing_ok=True)
                return None
        return record

    def shard_records(self) -> list[dict]:
        records = [read_json(path) for path in sorted(self.shards_dir.glob("*.json"))]
        return [r for r in records if r is not None]

    def clear_shard(self, key: str) -> None:
        """Removes any trace of an unfinished shard, so its redo starts from nothing."""
        for partition in PARTITIONS:
            directory = self.out / partition
            if directory.is_dir():
                for path in directory.glob(f"part-{key}.*"):
                    path.unlink(missing_ok=True)
                for path in directory.glob(f".part-{key}.*.tmp"):
                    path.unlink(missing_ok=True)

    def mark_shard_done(self, key: str, record: dict) -> None:
        write_json(self.shards_dir / f"{key}.json", record)

    def remove_temporaries(self) -> int:
        removed = sum(remove_temporaries(self.out / p) for p in (*PARTITIONS, CALIBRATION_DIR))
        for directory in (self.dir, self.minhash_dir, self.shards_dir, self.out):
            removed += remove_temporaries(directory)
        return removed


def _differences(old: dict, new: dict) -> list[str]:
    names = []
    # A calibrated run stores the corpus's thresholds; the model's are what a new command compares with.
    old = {**old, "thresholds": old.get("model_thresholds") or old.get("thresholds")}
    for key, label in (("inputs", "inputs"), ("settings", "settings"), ("model", "model"),
                       ("thresholds", "thresholds"), ("reference", "human reference")):
        if old.get(key) != new.get(key):
            if key == "settings" and isinstance(old.get(key), dict):
                changed = sorted(k for k in set(old[key]) | set(new[key]) if old[key].get(k) != new[key].get(k))
                label = f"settings ({', '.join(changed)})"
            names.append(label)
    return names

