"""`synthsieve score` and `synthsieve eval`: the single-document commands."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import click

from detector.decision import GROUNDED, SUSPECTED, UNCERTAIN
from detector.features.precision import DEFAULT_PRECISION
from detector.inputs import UnreadableInput, decode_document, read_document
from filters.cli.options import checked_thresholds, model_options

BATCH_TOKENS = click.option("--batch-tokens", type=click.IntRange(64), default=4096, show_default=True,
                            help="Padded tokens per LM forward pass.")


def load_detector(model_dir, reference_model, token_cap, batch_tokens, suspect, ground, bulk=False,
                  precision=DEFAULT_PRECISION):
    from detector.detector import Detector
    from filters.executor.detector_loader import DetectorLoader

    checked_thresholds(DetectorLoader(model_dir=model_dir), suspect, ground)
    try:
        detector = Detector.load(model_dir=model_dir, reference_model=reference_model, token_cap=token_cap,
                                 compile_statistics=bulk, precision=precision)
        detector.thresholds = detector.thresholds.with_overrides(suspect=suspect, ground=ground)
    except (RuntimeError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    detector.lm.batch_tokens = batch_tokens
    return detector


@click.command("score")
@click.argument("paths", nargs=-1, required=True)
@model_options
@BATCH_TOKENS
@click.option("--batch-docs", type=click.IntRange(1), default=32, show_default=True,
              help="Documents read and scored together; each batch's lines are printed as soon as it "
                   "is scored.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
def score_command(paths, model_dir, reference_model, token_cap, precision, batch_tokens, suspect, ground,
                  batch_docs, as_json):
    """Score text files (or '-' for standard input) for machine origin.

    For each PATH prints the probability that the text is machine-generated (p_machine), the decision,
    the three features that pushed the score most, the language and the number of LM tokens read.

    p_machine is calibrated under equal priors: it is the probability of machine origin for a corpus
    that is half machine text. The decision follows from it and the model's thresholds: grounded
    below GROUND (never above 0.5), suspected_synthetic at or above SUSPECT (never below 0.5),
    uncertain between, and uncertain wherever the reference LM cannot judge (not English, fewer
    than 50 tokens) unless p_machine is overwhelming. A corpus's own machine share is estimated by
    the filter's report, not read off p_machine.
    Only the first TOKEN_CAP tokens are scored, and a large file is read only that far. Text is
    UTF-8, or UTF-16 or UTF-32 when a byte-order mark says so.

    The inputs are streamed: they are read and scored BATCH_DOCS at a time, and each batch's lines
    are printed, in input order, as soon as it is scored. Memory stays bounded by the batch, and the
    first lines appear once the first batch is scored, however many PATHs there are. When the
    inputs make more than one batch, progress goes to standard error: a bar on a terminal, otherwise
    a line every 30 seconds.

    With --json each line is an object with keys path, p_machine, decision, reasons, language,
    n_tokens and model.

    An input that cannot be read (missing, a directory, not a regular file such as a FIFO, a broken
    symbolic link or a link loop, empty or only invisible characters, binary, not valid UTF-8) is
    reported on standard error with its path, in input order; the other inputs are still scored, and
    the exit status is 1.
    """
    from detector.progress import Progress

    detector = load_detector(model_dir, reference_model, token_cap, batch_tokens, suspect, ground,
                             precision=precision)
    progress = Progress(enabled=len(paths) > batch_docs)
    # With a progress bar on the terminal, lines go through tqdm so they do not tear the bar.
    write = _bar_writer() if progress.enabled and progress.tty else click.echo
    failed = 0
    progress.stage("score", total=len(paths))
    try:
        for begin in range(0, len(paths), batch_docs):
            batch = []  # (path, text or None, error or None): read lazily, one batch at a time
            for path in paths[begin : begin + batch_docs]:
                try:
                    batch.append((path, read_document(path, detector.lm.token_cap), None))
                except UnreadableInput as exc:
                    batch.append((path, None, exc))
            texts = [text for _, text, _ in batch if text is not None]
            scores = iter(detector.score(texts) if texts else [])
            lines, decisions = [], Counter()
            for path, text, error in batch:
                if error is not None:
                    # Results before this input go out first, so the two streams keep input order.
                    if lines:
                        write("\n".join(lines))
                        lines = []
                    write(f"synthsieve: {path}: {error}", err=True)
                    failed += 1
                    continue
                result = next(scores)
                decisions[result.decision] += 1
                lines.append(_score_line(path, result, detector.model_label, as_json))
            if lines:
                write("\n".join(lines))  # click.echo flushes: the batch is out before the next is read
            progress.update(len(batch), decisions)
    except BrokenPipeError:  # `synthsieve score ... | head`: the reader has gone, stop quietly
        _silence_stdout()
        sys.exit(1)
    finally:
        progress.close()
    sys.exit(1 if failed else 0)


def _score_line(path, result, model_label, as_json) -> str:
    if as_json:
        return json.dumps({"path": path, "p_machine": round(result.p_machine, 6), "decision": result.decision,
                           "reasons": result.reasons, "language": result.language,
                           "n_tokens": result.n_tokens, "model": model_label})
    reasons = ", ".join(f"{r['feature']} {r['contribution']:+.2f}" for r in result.reasons)
    return (f"{path}\t{result.p_machine:.3f}\t{result.decision}\t{result.language}\t"
            f"{result.n_tokens} tokens\t{reasons}")


def _bar_writer():
    from tqdm import tqdm

    def write(message, err=False):
        stream = sys.stderr if err else sys.stdout
        if err or stream.isatty():
            tqdm.write(message, file=stream)
            stream.flush()
        else:  # results piped to a file do not touch the bar
            click.echo(message)

    return write


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _read_labelled(path: Path) -> tuple[list[dict], int]:
    rows, skipped = [], 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if row.get("label") not in ("human", "machine") or not isinstance(row.get("text"), str):
                    raise ValueError("needs `text` and `label` (human|machine)")
                decode_document(row["text"].encode(), truncated=False)
            except (ValueError, UnreadableInput) as exc:
                click.echo(f"synthsieve: {path}:{number}: skipped: {exc}", err=True)
                skipped += 1
                continue
            rows.append(row)
    return rows, skipped


@click.command("eval")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@model_options
@BATCH_TOKENS
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the ROC curve to this PNG file.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Score only the first N documents.")
@click.option("--batch-docs", type=click.IntRange(1), default=64, show_default=True,
              help="Documents per scoring call (progress is reported after each).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with all metrics.")
def eval_command(data, model_dir, reference_model, token_cap, precision, batch_tokens, suspect, ground, plot,
                 limit, batch_docs, as_json):
    """Measure the detector on labelled JSON Lines.

    DATA holds one object per line with `text` and `label` (human or machine), and optionally
    `generator` and `domain`. Reports AUROC, the true-positive rate at 1% and 0.1% false-positive
    rate, F1 and the confusion matrix at the model's thresholds (suspected_synthetic counts as the
    positive call), the share routed to uncertain, breakdowns by generator and by domain, and
    documents per second. Lines without a usable text or label are skipped with a message.

    --json keys: n, auroc, tpr_at_1pct_fpr, tpr_at_0_1pct_fpr, f1, uncertain_share,
    docs_per_second, by_generator, by_domain (and by_language, confusion, false_positive_rate,
    thresholds, model).
    """
    from detector.evaluation import evaluate, plot_roc
    from detector.progress import Progress

    detector = load_detector(model_dir, reference_model, token_cap, batch_tokens, suspect, ground, bulk=True,
                             precision=precision)
    rows, skipped = _read_labelled(data)
    rows = rows[:limit] if limit else rows
    if not rows:
        raise click.ClickException(f"{data}: no usable labelled rows")
    detector.lm.load()
    scores = []
    started = time.perf_counter()
    progress = Progress()
    progress.stage("eval", total=len(rows))
    for begin in range(0, len(rows), batch_docs):
        batch = detector.score([r["text"] for r in rows[begin : begin + batch_docs]])
        scores.extend(batch)
        progress.update(len(batch), Counter(s.decision for s in batch))
    progress.close()
    elapsed = time.perf_counter() - started
    y = [1 if r["label"] == "machine" else 0 for r in rows]
    p = [s.p_machine for s in scores]
    decisions = [s.decision for s in scores]
    result = evaluate(y, p, decisions, generators=[r.get("generator", "unknown") for r in rows],
                      domains=[r.get("domain", "unknown") for r in rows], languages=[s.language for s in scores])
    result.update(docs_per_second=len(rows) / elapsed, skipped=skipped,
                  thresholds=detector.thresholds.to_dict(), model=detector.model_label)
    if plot:
        plot_roc(y, p, plot, title=f"{data.name}: {detector.model_label}")
    if as_json:
        click.echo(json.dumps(result, indent=1))
        return
    _print_eval(result)


def _fmt(value, pattern="{:.3f}"):
    return "n/a" if value is None else pattern.format(value)


def _print_eval(r: dict) -> None:
    click.echo(f"documents          {r['n']} ({r['n_human']} human, {r['n_machine']} machine), {r['skipped']} skipped")
    click.echo(f"AUROC              {_fmt(r['auroc'])}")
    click.echo(f"TPR @ 1% FPR       {_fmt(r['tpr_at_1pct_fpr'])}")
    click.echo(f"TPR @ 0.1% FPR     {_fmt(r['tpr_at_0_1pct_fpr'])}")
    click.echo(f"F1 (suspected)     {_fmt(r['f1'])}   human flagged: {_fmt(r['false_positive_rate'])}")
    click.echo(f"uncertain share    {_fmt(r['uncertain_share'])}")
    click.echo(f"docs/second        {r['docs_per_second']:.2f}")
    click.echo("confusion          grounded  uncertain  suspected")
    for label, row in r["confusion"].items():
        click.echo(f"  {label:<16} {row[GROUNDED]:>8}  {row[UNCERTAIN]:>9}  {row[SUSPECTED]:>9}")
    for title, key, cols in (("by generator", "by_generator", ("n", "auroc", "detected_share")),
                             ("by domain", "by_domain", ("n", "auroc", "suspected_share", "uncertain_share")),
                             ("by language", "by_language", ("n", "auroc", "suspected_share", "uncertain_share"))):
        if r[key]:
            click.echo(f"{title}: " + "  ".join(cols))
            for name, stats in r[key].items():
                click.echo(f"  {name:<30} " + "  ".join(_fmt(stats[c], "{}" if c == "n" else "{:.3f}") for c in cols))

