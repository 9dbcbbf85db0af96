"""Detector v2's training table and fit: everything one LM pass gives, stacked in one calibrated model.

The table holds the documents of the extraction plan whose LM outputs are cached
(scripts/extract_lm_outputs.py): LM statistics, mean-pooled hidden states, per-token sequences, and the
hygiene and stylometry of their text. The fit is a stack:

- three learned evidence models, each over one view: the style fastText model (text), the hidden-state
  probe (pooled states) and the token-sequence model (per-token log-probability, entropy, rank);
- the gradient-boosted classifier over the hand-made features (hygiene, stylometry, LM statistics) and
  the three evidence scores, Platt-calibrated on held-out groups.

The evidence scores are cross-fitted: on the rows the stack is fit on, a row's score comes from a model
that did not see its group, as it will be at scoring time; the shipped evidence models are then refit
on every fitting row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.features import MAX_FEATURE_CHARS, cheap_features
from detector.features.hygiene import normalize_for_scoring
from detector.features.language import LanguageIdentifier
from detector.features.lm_evidence import HiddenStateProbe, TokenSequenceModel, hidden_probe_inputs
from detector.features.precision import DEFAULT_PRECISION
from detector.features.style_model import StyleClassifier
from detector.training.data import (EXTENSION_SETS, FEATURE_CACHE, GENERATED_PREFIX, LMOutputCache,
                                    generated_documents, lm_outputs_key, planned_documents)
from detector.training.table import fit_calibrated, generator_family, group_folds

# The extraction plan's sets the models are fit on (the extended plan's too); the others only check them.
TRAINING_SETS = ("train:all", "modern:train", "learners:train", "human_pool:all", *EXTENSION_SETS)
LABELS = {"human": 0, "machine": 1}
NEITHER = -1  # polished_light: human text lightly edited by a model, trained as neither class
TEXT_CACHE_VERSION = "text1"
EVIDENCE_NAMES = ("style_fasttext_p_machine", "lm_hidden_probe", "lm_sequence_model")


def source_of(row: dict) -> str:
    """The repository a row comes from (its `source` up to the second '/'); sets without one (the
    learners' essays) are their own source."""
    source = row.get("source") or row["set"].split(":")[0]
    return "/".join(str(source).split("/")[:2]).split(":")[0]


@dataclass
class EvidenceTable:
    rows: list[dict]
    y: np.ndarray            # 1 machine, 0 human, NEITHER for polished_light
    sets: np.ndarray         # "<file>:<split>" of the extraction plan
    language: np.ndarray
    n_tokens: np.ndarray
    stats: np.ndarray        # LM statistics (NaN where too short)
    hidden: np.ndarray       # hidden_probe_inputs (NaN rows where too short)
    tokens: list             # per-token sequences (None where too short)
    text_parts: np.ndarray   # hygiene + stylometry
    fit_only_sets: tuple = ()  # sets whose rows are only fit on, like the generated ones (see fit_only)
    sources: np.ndarray = field(init=False)
    families: np.ndarray = field(init=False)

    def __post_init__(self):
        self.sources = np.array([source_of(r) for r in self.rows], dtype=object)
        self.families = np.array([generator_family(r.get("generator") or "") for r in self.rows], dtype=object)

    def column(self, key: str) -> np.ndarray:
        return np.array([r.get(key) or "" for r in self.rows], dtype=object)

    @property
    def generated(self) -> np.ndarray:
        """Mask of the generated rows (scripts/generate_continuations.py): fit on (their share of the stack's
        calibration slice included, like every training row's), never scored out of fold."""
        return np.array([str(s).startswith(GENERATED_PREFIX) for s in self.sets], dtype=bool)

    @property
    def fit_only(self) -> np.ndarray:
        """Mask of the rows that are fit on but never scored out of fold and never shape the source groups:
        the generated rows, and those of fit_only_sets. Adding them leaves the folds and the scored rows
        as they were, so a run with them is judged on exactly the rows of a run without."""
        return self.generated | np.isin(self.sets, self.fit_only_sets)

    @property
    def training(self) -> np.ndarray:
        """Indices of the rows models may be fit on."""
        return np.flatnonzero((np.isin(self.sets, TRAINING_SETS) | self.generated) & (self.y != NEITHER))

    def judgeable(self, idx: np.ndarray, min_tokens: int = 50) -> np.ndarray:
        """Those of idx that the thresholds decide on: English, at least min_tokens LM tokens."""
        return idx[(self.language[idx] == "en") & (self.n_tokens[idx] >= min_tokens)]

    def in_sets(self, *names: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.sets, names))


def _text_parts(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Hygiene + stylometry and language of each row, cached per id (the set of cached rows grows as
    extraction runs, so the cache is by id, not by the list)."""
    path = FEATURE_CACHE / f"{TEXT_CACHE_VERSION}.npz"
    known: dict[str, tuple[np.ndarray, str]] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            known = {i: (p, lang) for i, p, lang in zip(data["ids"], data["parts"], data["language"])}
    todo = [r for r in rows if r["id"] not in known]
    if todo:
        identifier = LanguageIdentifier()
        for row in todo:
            norm = normalize_for_scoring(row["text"][:MAX_FEATURE_CHARS])
            known[row["id"]] = (cheap_features(norm, 0.0, 1)[:-2], identifier.identify(norm.text)[0])
        FEATURE_CACHE.mkdir(parents=True, exist_ok=True)
        ids = sorted(known)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, ids=np.array(ids), parts=np.array([known[i][0] for i in ids]),
                 language=np.array([known[i][1] for i in ids]))
        tmp.replace(path)
    return (np.array([known[r["id"]][0] for r in rows], dtype=float),
            np.array([known[r["id"]][1] for r in rows], dtype=object))


def load_evidence_table(reference_sha256: str, token_cap: int, first: int | None = None,
                        seed: int = 0, precision: str = DEFAULT_PRECISION, generated=(),
                        extended: bool = False, fit_only_sets: tuple = ()) -> EvidenceTable:
    """The planned documents (the first `first` of the plan, of the extended plan where `extended`) whose
    LM outputs are cached, and the generated documents of each name in `generated` grown from openings
    among them; the rows of `fit_only_sets` are only fit on (EvidenceTable.fit_only)."""
    cache = LMOutputCache(lm_outputs_key(reference_sha256, token_cap, precision))
    rows = [r for r in planned_documents(seed, extended)[:first] if r["id"] in cache]
    if generated:
        opening_ids = {r["id"] for r in rows}
        rows += [r for r in generated_documents(generated, opening_ids) if r["id"] in cache]
    if not rows:
        raise SystemExit(f"no LM outputs cached under {cache.directory}: run scripts/extract_lm_outputs.py")
    ids = [r["id"] for r in rows]
    data = cache.arrays(ids)
    tokens = cache.token_sequences(ids)
    parts, language = _text_parts(rows)
    y = np.array([LABELS.get(r.get("label"), NEITHER) for r in rows])
    return EvidenceTable(rows=rows, y=y, sets=np.array([r["set"] for r in rows], dtype=object),
                         language=language, n_tokens=data["n_tokens"].astype(int),
                         stats=data["stats"].astype(float), hidden=hidden_probe_inputs(data["hidden"]),
                         tokens=tokens, text_parts=parts, fit_only_sets=tuple(fit_only_sets))


WEIGHTINGS = ("class", "source")


def source_balanced_weights(table: EvidenceTable, idx: np.ndarray, max_weight: float = 20.0) -> np.ndarray:
    """Weights over all rows (1 outside idx) that make each source's two classes weigh the same.

    The sources were assembled with very different class mixes (one benchmark 95% machine,
    another 84% human, the human pool and the learners' essays human only), so with class
    balance alone "which benchmark does this look like" predicts the label, and a model can learn the
    source's look instead of machine origin: on a source it never saw, that look says nothing. Here,
    within every source holding both classes, each class first carries half the source's rows' weight
    (one-class sources keep weight 1), capped at `max_weight` per row so that a few human documents of a
    mostly machine source do not dominate; then weights are scaled to mean 1 within each class, so that
    the class balance every learned model here applies on top still holds. What results: the same
    machine:human weight ratio in every two-class source (not 1:1, since the one-class sources move
    the class means), so the source no longer predicts the label among them.
    """
    weights = np.ones(len(table.rows))
    idx = np.asarray(idx)
    y, sources = table.y[idx], table.sources[idx]
    if not np.isin(y, (0, 1)).all():
        raise ValueError("source_balanced_weights takes labelled rows only (0 human, 1 machine)")
    local = np.ones(len(idx))
    for source in set(sources):
        here = sources == source
        counts = np.bincount(y[here], minlength=2)
        if counts.min() == 0:
            continue
        for label in (0, 1):
            local[here & (y == label)] = here.sum() / (2.0 * counts[label])
    local = np.minimum(local, max_weight)
    for label in (0, 1):
        of_class = y == label
        if of_class.any():
            local[of_class] /= local[of_class].mean()
    weights[idx] = local
    return weights


@dataclass
class EvidenceModels:
    style: StyleClassifier
    probe: HiddenStateProbe
    sequence: TokenSequenceModel


def row_weights(table: EvidenceTable, idx: np.ndarray, weighting: str) -> np.ndarray | None:
    """Per-row weights over all rows for fitting on idx: None for `class` (class balance only),
    source_balanced_weights for `source`."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    return source_balanced_weights(table, idx) if weighting == "source" else None


def _fit_evidence(table: EvidenceTable, idx: np.ndarray, seed: int, sequence_params: dict,
                  weighting: str = "class") -> EvidenceModels:
    texts = [table.rows[i]["text"] for i in idx]
    y = table.y[idx]
    with_lm = idx[~np.isnan(table.hidden[idx]).any(axis=1)]
    weights = row_weights(table, idx, weighting)
    lm_weights = None if weights is None else weights[with_lm]
    # The style model (fastText) takes no weights: it is fit class-balanced only.
    return EvidenceModels(
        style=StyleClassifier(seed=seed).fit(texts, y.tolist()),
        probe=HiddenStateProbe().fit(table.hidden[with_lm], table.y[with_lm], sample_weight=lm_weights),
        sequence=TokenSequenceModel(seed=seed, **sequence_params).fit([table.tokens[i] for i in with_lm],
                                                                       table.y[with_lm], sample_weight=lm_weights))


def _evidence_of(models: EvidenceModels, table: EvidenceTable, idx: np.ndarray) -> np.ndarray:
    """(len(idx), 3): style P(machine), probe and sequence-model log-odds (NaN where no LM outputs)."""
    style = models.style.predict_proba([table.rows[i]["text"] for i in idx])[:, 1]
    probe = models.probe.decision_function(table.hidden[idx])
    sequence = models.sequence.decision_function([table.tokens[i] for i in idx])
    return np.column_stack([style, probe, sequence])


def cross_fitted_evidence(table: EvidenceTable, fit_idx: np.ndarray, score_idx: np.ndarray, k: int = 3,
                          seed: int = 0, sequence_params: dict | None = None,
                          weighting: str = "class") -> tuple[np.ndarray, EvidenceModels]:
    """Evidence scores for every row (NaN outside fit_idx and score_idx): out-of-fold for fit_idx (by
    group), from the models fit on all of fit_idx for the rest; and those models."""
    sequence_params = sequence_params or {}
    evidence = np.full((len(table.rows), len(EVIDENCE_NAMES)), np.nan)
    folds = group_folds(table.rows, fit_idx, k, seed)
    for fold in range(k):
        models = _fit_evidence(table, fit_idx[folds != fold], seed, sequence_params, weighting)
        held = fit_idx[folds == fold]
        evidence[held] = _evidence_of(models, table, held)
    final = _fit_evidence(table, fit_idx, seed, sequence_params, weighting)
    rest = np.setdiff1d(score_idx, fit_idx)
    if len(rest):
        evidence[rest] = _evidence_of(final, table, rest)
    return evidence, final


def full_matrix(table: EvidenceTable, evidence: np.ndarray) -> np.ndarray:
    """The full vector in FULL_FEATURE_NAMES order: hygiene, stylometry, style score, cluster size, LM
    statistics, hidden-state probe, sequence model."""
    # The near-duplicate clusters of this data are an artefact of how it was assembled: the source
    # corpora reuse human originals, so about half of the human rows of train have a near-duplicate and
    # almost no machine row does. Learned from that, cluster size meant "human" (a machine document
    # with one near-duplicate fell from p 0.8 to 0.3), the opposite of what it should mean in a crawl,
    # where templated generation comes in families. With no real machine families to learn from, the
    # feature is trained at size 1 (log 1 = 0) everywhere: it carries no weight until such data exists.
    return np.column_stack([cheap_matrix(table, evidence), table.stats, evidence[:, 1:]])


def cheap_matrix(table: EvidenceTable, evidence: np.ndarray) -> np.ndarray:
    return np.column_stack([table.text_parts, evidence[:, 0], np.zeros(len(evidence))])


@dataclass
class StackFit:
    evidence_models: EvidenceModels
    full: object
    cheap: object
    evidence: np.ndarray    # every row's evidence scores (NaN outside the fit and scored rows)
    p_full: np.ndarray      # calibrated P(machine) of the scored rows (NaN elsewhere)
    p_cheap: np.ndarray


def fit_stack(table: EvidenceTable, fit_idx: np.ndarray, score_idx: np.ndarray, k: int = 3, seed: int = 0,
              sequence_params: dict | None = None, with_cheap: bool = False, weighting: str = "class") -> StackFit:
    """Fit everything learned on fit_idx (evidence models cross-fitted, then the calibrated stack) and
    score score_idx: nothing fit here has seen a scored row unless it is in fit_idx. weighting: `class`
    (class balance) or `source` (each source's classes balanced too, source_balanced_weights)."""
    evidence, models = cross_fitted_evidence(table, fit_idx, score_idx, k, seed, sequence_params, weighting)
    X = full_matrix(table, evidence)
    weights = row_weights(table, fit_idx, weighting)
    full = fit_calibrated(X, table.y, table.rows, fit_idx, seed=seed, kind="boosted", sample_weight=weights)
    p_full = np.full(len(table.rows), np.nan)
    p_full[score_idx] = full.predict_proba(X[score_idx])[:, 1]
    cheap, p_cheap = None, np.full(len(table.rows), np.nan)
    if with_cheap:
        X_cheap = cheap_matrix(table, evidence)
        cheap = fit_calibrated(X_cheap, table.y, table.rows, fit_idx, seed=seed, kind="boosted", sample_weight=weights)
        p_cheap[score_idx] = cheap.predict_proba(X_cheap[score_idx])[:, 1]
    return StackFit(models, full, cheap, evidence, p_full, p_cheap)


def held_out_p(table: EvidenceTable, fit_idx: np.ndarray, test_idx: np.ndarray, k: int, seed: int,
               sequence_params: dict | None, torch_threads: int = 1, weighting: str = "class") -> np.ndarray:
    """P(machine) of test_idx from a stack fit on fit_idx only: one held-out fold, runnable in a worker
    process (held_out_p_by_setting with one setting)."""
    return held_out_p_by_setting({"": table}, "", fit_idx, test_idx, k, seed, sequence_params, torch_threads,
                                 weighting)[""]


def stack_p(fit: StackFit, table: EvidenceTable, idx: np.ndarray) -> np.ndarray:
    """Calibrated P(machine) of `table`'s rows idx from an already fitted stack. The table may hold the
    same documents with LM outputs of another setting (precision, token cap): this is how the models,
    fit on one setting's outputs, score documents whose outputs came from another."""
    evidence = np.full((len(table.rows), len(EVIDENCE_NAMES)), np.nan)
    evidence[idx] = _evidence_of(fit.evidence_models, table, idx)
    return fit.full.predict_proba(full_matrix(table, evidence)[idx])[:, 1]


def held_out_p_by_setting(tables: dict, fit_on: str, fit_idx: np.ndarray, test_idx: np.ndarray, k: int, seed: int,
                          sequence_params: dict | None, torch_threads: int = 1,
                          weighting: str = "class") -> dict[str, np.ndarray]:
    """One held-out fold scored in every setting: a stack fit on fit_idx of tables[fit_on] (the setting
    the shipped model is trained in) scores test_idx of each table (name -> EvidenceTable of the same
    rows in the same order). Runnable in a worker process: it sets the worker's torch threads, since the
    sequence model's small steps run faster on one thread than on two that wait on each other."""
    import torch

    torch.set_num_threads(torch_threads)
    fit = fit_stack(tables[fit_on], fit_idx, test_idx, k=k, seed=seed, sequence_params=sequence_params,
                    weighting=weighting)
    return {name: (fit.p_full[test_idx] if name == fit_on else stack_p(fit, table, test_idx))
            for name, table in tables.items()}


def held_out_scores(table: EvidenceTable, key: str, k: int, seed: int, sequence_params: dict | None, jobs: int,
                    torch_threads: int = 1, log=None, weighting: str = "class") -> np.ndarray:
    """Out-of-fold P(machine) of every labelled row in a held-out group of `key` (NaN elsewhere): each
    group scored by a stack fit without it (held_out_p), the folds in `jobs` worker processes; `log`, if
    given, is called with a line per fold."""
    import multiprocessing
    import time
    from concurrent.futures import ProcessPoolExecutor

    p = np.full(len(table.rows), np.nan)
    folds = held_out_fold_indices(table, key)
    started = time.time()
    # Spawned workers: each style fit starts its own fresh process, which a loky worker cannot do.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        scores = list(pool.map(held_out_p, *zip(*[(table, fit, test, k, seed, sequence_params, torch_threads,
                                                    weighting) for _, fit, test in folds])))
    for (name, fit, test), p_test in zip(folds, scores):
        p[test] = p_test
        if log:
            log(f"  held out {key} {name}: {len(test)} rows scored, {len(fit)} fit")
    if log:
        log(f"{len(folds)} {key} folds in {time.time() - started:.0f}s")
    return p


def source_groups(table: EvidenceTable, n_groups: int = 5) -> dict[str, np.ndarray]:
    """Row masks of `n_groups` groups of whole source repositories, each source in exactly one, dealt
    largest first to the group with the fewest training rows so far (so the groups are of similar size
    and the biggest sources are alone). Holding each group out in turn holds every source out of the
    models that score it: leave-one-source-out at the cost of n_groups refits instead of one per source.
    """
    training = np.zeros(len(table.rows), dtype=bool)
    training[table.training] = True
    training &= ~table.fit_only  # the groups stay the same with or without fit-only training data
    sizes = {s: int((training & (table.sources == s)).sum()) for s in set(table.sources)}
    members: list[list[str]] = [[] for _ in range(n_groups)]
    load = [0] * n_groups
    for source in sorted(sizes, key=lambda s: (-sizes[s], s)):
        target = min(range(n_groups), key=lambda g: (load[g], g))
        members[target].append(source)
        load[target] += sizes[source]
    return {"+".join(sorted(m)): np.isin(table.sources, m) for m in members if m}


def held_out_fold_indices(table: EvidenceTable, key: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, fit rows, scored rows) of each held-out group of `key` (see held_out_folds): the training
    rows outside the group, and its labelled rows but the fit-only ones (EvidenceTable.fit_only); groups
    that leave nothing to score or only one class to fit are skipped."""
    training = table.training
    labelled = np.flatnonzero((table.y != NEITHER) & ~table.fit_only)
    folds = []
    for name, held in held_out_folds(table, key).items():
        fit, test = training[~held[training]], labelled[held[labelled]]
        if len(test) and len(set(table.y[fit])) == 2:
            folds.append((name, fit, test))
    return folds


def held_out_folds(table: EvidenceTable, key: str) -> dict[str, np.ndarray]:
    """Row masks of the held-out groups: `source` (groups of whole source repositories, see
    source_groups) or `family` (each generator family)."""
    if key == "source":
        return source_groups(table)
    if key == "family":
        return {f: table.families == f for f in sorted(set(table.families)) if f != "human"}
    raise ValueError(f"unknown fold key {key!r}")
