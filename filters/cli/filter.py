"""`synthsieve filter` and `synthsieve rethreshold`: the corpus filter's command line."""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager

import click

from filters.cli.options import (checked_precision, checked_thresholds, model_options,
                                 reference_options, reference_spec)
from filters.store.atomic import OutputError, describe_output_error, is_output_error

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


class ByteSize(click.ParamType):
    """A size in bytes: 1000000, 64K, 8M, 1G (binary multiples)."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size such as 8388608, 512K or 8M", param, ctx)
        number, unit = float(match.group(1)), match.group(2).lower()
        return int(number * (1 << (10 * " kmgt".index(unit or " "))))


def _fail(message: str, code: int = 1):
    click.echo(f"synthsieve: error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _run_errors(out):
    """A run that stops (OUT holds another run, a full or unwritable disk, a damaged model) is one line on
    stderr and exit 1."""
    from detector.detector import ModelDirectoryError
    from detector.features.precision import Int8PrecisionError
    from detector.reference_lm import ReferenceModelError
    from filters.store.state import RunMismatchError

    try:
        yield
    except (OutputError, RunMismatchError, ModelDirectoryError, ReferenceModelError, Int8PrecisionError) as error:
        _fail(str(error))
    except OSError as error:
        if is_output_error(error):
            _fail(str(describe_output_error(error, out)))
        raise


def _print_manifest(manifest: dict, out, as_json: bool) -> None:
    from filters.cli.summary import format_summary

    click.echo(json.dumps(manifest, indent=2) if as_json else format_summary(manifest, out))


def _progress(enabled: bool | None):
    from detector.progress import Progress

    return Progress(enabled=True if enabled is None else enabled)


FILTER_HELP = """Sort a crawled corpus into grounded, suspected_synthetic and uncertain text.

\b
INPUT... are files, directories of .txt files, or quoted globs:
  *.jsonl[.gz|.zst]    one JSON object per line (--text-field, --id-field)
  *.parquet            one row per record (--text-field, --id-field)
  *.warc.gz, *.wet.gz  response and conversion records; HTML cut to its main text
  DIR/, *.txt          one .txt file per record; the id is its relative path

Every record ends in exactly one of OUT/grounded/, OUT/suspected_synthetic/, OUT/uncertain/ or
OUT/quarantine/ (records that could not be read or scored, with the reason). Near-duplicates are
grouped over the whole run first (MinHash LSH); a document's cluster size is evidence, as templated
generation comes in families.

Cascade: a cheap stage (stylometry, language, fastText, near-duplicates) decides alone when it is
confident, and only the rest go through the reference LM; --full sends everything through the LM.
Each row says which stage decided (synthsieve.decided_by).

Crash safety: interrupted at any point (Ctrl-C, kill -9, power loss), the same command resumes and
ends with the same output as an uninterrupted run. An OUT that holds a different run (other inputs,
settings, model or thresholds) is refused unless --restart is given.

Rows keep the input record's fields untouched and add "id", "text" and a "synthsieve" object
(p_machine, decision, decided_by, reasons, language, n_tokens, cluster_id, cluster_size, source,
date). p_machine is calibrated under equal priors (half machine text); the decision follows from it
and the thresholds recorded beside it in the manifest. OUT/manifest.json records the version, model hashes, thresholds, settings, input hashes and
counts. To change thresholds later without rescoring, see synthsieve rethreshold.

Human reference (--human-reference, --reference-before): a fixed cut-off holds its false-positive
target only on human text like the model's development data. Given documents known to be human from
the same crawl (pages fetched before chat models were public, an older snapshot), the suspect cut-off
is re-set so that at most the model's target share of them (1%, with 95% confidence) is flagged. The
manifest's `calibration` records the model's and the corpus's thresholds and the reference's size and
hashes; OUT/calibration/ keeps the reference's scores, which `synthsieve report` uses to estimate the
machine-generated share. Without a reference nothing changes.

Exit status: 0 done; 1 the run stopped (the message says why; run again to resume); 2 bad usage.

\b
Examples:
  synthsieve filter crawl/*.warc.gz --out out/
  synthsieve filter 'data/**/*.jsonl.zst' --text-field content --workers 2 --out out/
  synthsieve filter corpus.parquet --engine ray --address auto --format parquet --out out/
  synthsieve filter crawl-2025/*.warc.gz --human-reference 'crawl-2021/*.warc.gz' --out out/
  synthsieve filter crawl/*.warc.gz --reference-before 2022-11-30 --out out/
"""


@click.command("filter", help=FILTER_HELP, no_args_is_help=True)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output directory (created; resumed when it holds the same run).")
@click.option("--text-field", default="text", show_default=True, help="JSON/Parquet field holding the text.")
@click.option("--id-field", default="id", show_default=True,
              help="JSON/Parquet field holding the id; a stable id is derived when it is missing.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Worker processes (local) or model actors (Ray); each loads the model once.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run here, or on Ray Data (pip install 'synthsieve[ray]').")
@click.option("--address", default=None, help="Ray cluster to join (e.g. auto, ray://host:10001); "
                                              "default: start a local Ray instance.")
@click.option("--full", is_flag=True, help="Send every document through the LM (no cascade).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True,
              help="Shard format: zstd-compressed JSON Lines or Parquet.")
@model_options
@click.option("--device", default=None, help="torch device for the LM (default: cuda if present, else cpu).")
@click.option("--shingle-size", default=5, show_default=True, type=click.IntRange(1),
              help="Words per MinHash shingle. Smaller finds looser rewrites, and more shared boilerplate.")
@click.option("--num-perm", default=128, show_default=True, type=click.IntRange(2),
              help="MinHash permutations: sharper similarity estimates; time and disk (4 B each per doc).")
@click.option("--bands", default=16, show_default=True, type=click.IntRange(1),
              help="LSH bands (must divide --num-perm). Pairs above about (1/bands)^(bands/num-perm) "
                   "Jaccard similarity are grouped: 16 of 128 -> 0.71, 32 -> 0.42, 8 -> 0.88.")
@click.option("--max-bytes", type=ByteSize(), default="8M", show_default=True,
              help="Records larger than this go to quarantine as too_large (never loaded whole).")
@click.option("--score-chars", default=16384, show_default=True, type=click.IntRange(256),
              help="Characters of a document the detector sees; longer ones are truncated for scoring.")
@click.option("--shard-size", default=1000, show_default=True, type=click.IntRange(1),
              help="Records per output shard: the unit of work, of commit and of redo after a crash.")
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(1),
              help="Documents per LM batch.")
@reference_options
@click.option("--restart", is_flag=True, help="Discard what OUT holds and start over.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar on a terminal, periodic log lines otherwise (default: on).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout at the end.")
def filter_command(inputs, out, text_field, id_field, workers, engine, address, full, fmt, model_dir,
                   reference_model, device, suspect, ground, shingle_size, num_perm, bands, max_bytes,
                   score_chars, shard_size, batch_size, token_cap, precision, human_reference, reference_before,
                   reference_limit, restart, show_progress, as_json):
    from filters.executor.detector_loader import DetectorLoader
    from filters.executor.reference import ReferenceError
    from filters.pipeline.near_duplicates import MinHashSettings
    from filters.pipeline.readers import InputError
    from filters.executor.run import run_filter
    from filters.executor.settings import FilterSettings

    model = DetectorLoader(model_dir=model_dir)
    checked_thresholds(model, suspect, ground)
    checked_precision(precision, device)
    reference = reference_spec(human_reference, reference_before, reference_limit, suspect)
    # The model's own cap by default, as `score` uses; if model.json cannot be read, loading the model
    # below says why, so any cap does here.
    token_cap = token_cap or model.stored_token_cap() or 512
    try:
        settings = FilterSettings(text_field=text_field, id_field=id_field, full=full, fmt=fmt,
                                  max_bytes=max_bytes, score_chars=score_chars, shard_size=shard_size,
                                  batch_size=batch_size, token_cap=token_cap,
                                  minhash=MinHashSettings(shingle_size=shingle_size, num_perm=num_perm, bands=bands))
    except ValueError as error:
        raise click.UsageError(str(error))
    loader = DetectorLoader(model_dir=model_dir, reference_model=reference_model, token_cap=token_cap,
                            device=device, precision=precision)
    try:
        with _run_errors(out):
            manifest = run_filter(list(inputs), out, settings, detector_loader=loader, engine=engine,
                                  workers=workers, address=address, restart=restart, suspect=suspect,
                                  ground=ground, progress=_progress(show_progress), reference=reference)
    except InputError as error:
        raise click.UsageError(str(error))
    except ReferenceError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail(f"interrupted; run the same command again to resume ({out} is consistent)", 130)
    _print_manifest(manifest, out, as_json)


RETHRESHOLD_HELP = """Re-route a finished run under new thresholds, without rescoring.

Reads the rows of RUN (an output directory of synthsieve filter), decides each one again from its
stored p_machine, language and n_tokens with the rule the filter uses, and writes a new output
directory with the same layout and its own manifest, which names RUN. Quarantine is copied as is.
Crash-safe and resumable like the filter.

\b
Examples:
  synthsieve rethreshold out/ --suspect 0.999 --out out-strict/
  synthsieve rethreshold out/ --suspect 0.9 --out out-loose/      (ground follows down to 0.9)
  synthsieve rethreshold out/ --ground 0.05 --suspect 0.7 --out out-wide/
  synthsieve rethreshold out/ --reference-before 2022-11-30 --out out-calibrated/
  synthsieve rethreshold out/ --human-reference 'crawl-2021/*.jsonl.zst' --out out-calibrated/

With --reference-before the reference is RUN's own rows dated before that day: nothing is scored.
--human-reference files are scored with the model RUN used (--model-dir, --reference-model when it
was not the shipped one; a different model is refused), in the precision RUN's manifest names.
"""


@click.command("rethreshold", help=RETHRESHOLD_HELP, no_args_is_help=True)
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--suspect", type=click.FloatRange(0, 1), default=None,
              help="New suspected_synthetic threshold (default: keep RUN's).")
@click.option("--ground", type=click.FloatRange(0, 1), default=None,
              help="New grounded threshold (default: keep RUN's; lowered to --suspect when that is lower).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="New output directory.")
@reference_options
@click.option("--model-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="The model RUN was scored with, to score --human-reference (default: the shipped model).")
@click.option("--reference-model", type=click.Path(exists=True), default=None, metavar="PATH",
              help="The reference LM RUN was scored with, when it was not the shipped one.")
@click.option("--device", default=None, help="torch device for scoring --human-reference.")
@click.option("--restart", is_flag=True, help="Discard what OUT holds and start over.")
@click.option("--progress/--no-progress", "show_progress", default=None, help="Progress display (default: on).")
@click.option("--json", "as_json", is_flag=True, help="Print the new manifest as JSON on stdout.")
def rethreshold_command(run_dir, suspect, ground, out, human_reference, reference_before, reference_limit,
                        model_dir, reference_model, device, restart, show_progress, as_json):
    from filters.executor.detector_loader import DetectorLoader
    from filters.executor.reference import ReferenceError
    from filters.executor.rethreshold import RethresholdError, rethreshold
    from filters.pipeline.readers import InputError

    reference = reference_spec(human_reference, reference_before, reference_limit, suspect)
    # rethreshold sets the run's own token cap and precision on it.
    loader = DetectorLoader(model_dir=model_dir, reference_model=reference_model, device=device)
    try:
        with _run_errors(out):
            manifest = rethreshold(run_dir, out, suspect=suspect, ground=ground, restart=restart,
                                   progress=_progress(show_progress), reference=reference,
                                   detector_loader=loader)
    except (ReferenceError, RethresholdError) as error:
        _fail(str(error))
    except (ValueError, InputError) as error:  # thresholds out of order, a reference pattern naming nothing
        raise click.UsageError(str(error))
    _print_manifest(manifest, out, as_json)
