"""The three-way decision: one pure function, shared by scoring, the corpus router and rethreshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

GROUNDED = "grounded"
SUSPECTED = "suspected_synthetic"
UNCERTAIN = "uncertain"
DECISIONS = (GROUNDED, SUSPECTED, UNCERTAIN)


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs on p_machine.

    suspect: at or above -> suspected_synthetic (set for a target false-positive rate on human text).
    ground: below -> grounded (set for a target miss rate on machine text).
    overwhelming: documents the reference LM cannot judge (not English, too short) are suspected
        only at or above this; otherwise they are uncertain, as are such documents below `ground`.
    min_tokens: fewer LM tokens than this counts as too short to judge.
    supported_languages: languages the reference LM judges (ISO 639-1).
    """

    suspect: float
    ground: float
    overwhelming: float = 0.995
    min_tokens: int = 50
    supported_languages: tuple[str, ...] = ("en",)
    target_fpr: float | None = None
    target_miss_rate: float | None = None

    def __post_init__(self):
        if not 0.0 <= self.ground <= self.suspect <= 1.0:
            raise ValueError(f"need 0 <= ground ({self.ground}) <= suspect ({self.suspect}) <= 1")
        if not self.suspect <= self.overwhelming <= 1.0:
            raise ValueError(f"need suspect ({self.suspect}) <= overwhelming ({self.overwhelming}) <= 1")
        object.__setattr__(self, "supported_languages", tuple(self.supported_languages))

    def with_overrides(self, suspect: float | None = None, ground: float | None = None) -> "Thresholds":
        """These thresholds with a user's `suspect` and/or `ground`.

        Only `suspect`, below the current ground: the ground follows it down (ground = suspect), so
        asking to flag more is never refused. Only `ground`, above the current suspect: refused, since
        raising suspect to make room would flag less than the thresholds the user kept. Both given and
        out of order: refused. A suspect above `overwhelming` raises `overwhelming` with it.
        """
        changes = {k: v for k, v in (("suspect", suspect), ("ground", ground)) if v is not None}
        if suspect is not None and ground is None and suspect < self.ground:
            changes["ground"] = suspect
        if ground is not None and suspect is None and ground > self.suspect:
            raise ValueError(f"ground ({ground}) would exceed the suspect threshold ({self.suspect}); "
                             f"give a suspect threshold at or above {ground} as well")
        if "suspect" in changes and changes["suspect"] > self.overwhelming:
            changes["overwhelming"] = changes["suspect"]
        return replace(self, **changes)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["supported_languages"] = list(self.supported_languages)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Thresholds":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def override_note(old: Thresholds, new: Thresholds, suspect: float | None, ground: float | None) -> str | None:
    """A line saying so when `with_overrides` lowered the ground threshold to follow a --suspect given
    alone, for the command to show and the manifest to keep."""
    if suspect is not None and ground is None and new.ground < old.ground:
        return (f"the ground threshold was lowered from {old.ground:.4g} to {new.ground:.4g} to follow "
                f"--suspect (ground must not exceed suspect); pass --ground to choose it")
    return None


def judgeable(language: str | None, n_tokens: int, thresholds: Thresholds) -> bool:
    """Whether the reference LM is in its depth: a supported language and enough tokens."""
    return language in thresholds.supported_languages and n_tokens >= thresholds.min_tokens


CHEAP_STAGE = "cheap"
LM_STAGE = "lm"


def decide(p_machine: float, language: str | None, n_tokens: int, thresholds: Thresholds,
           stage: str = LM_STAGE) -> str:
    """The partition for a score. A score of the cheap stage (no LM pass) never flags: removing text
    needs the LM's evidence, so where the rule would flag it the answer is `uncertain`."""
    if not judgeable(language, n_tokens, thresholds):
        decision = SUSPECTED if p_machine >= thresholds.overwhelming else UNCERTAIN
    elif p_machine >= thresholds.suspect:
        decision = SUSPECTED
    elif p_machine < thresholds.ground:
        decision = GROUNDED
    else:
        decision = UNCERTAIN
    if decision == SUSPECTED and stage == CHEAP_STAGE:
        return UNCERTAIN
    return decision


def cheap_may_decide(score: "DocumentScore", thresholds: Thresholds) -> bool:
    """Whether the cheap stage's score is final: it is confident, and it would not flag the document
    (under these thresholds, which a user may have lowered) without the LM's evidence."""
    return score.confident and decide(score.p_machine, score.language, score.n_tokens, thresholds) != SUSPECTED


@dataclass
class DocumentScore:
    """Everything decided about one document, with the evidence.

    reasons: the features that pushed the score most, as {"feature", "value", "contribution"} where
    contribution is the feature's additive share of the log-odds (positive = towards machine).
    stage: "cheap" when the cheap stage (no LM) produced p_machine, "lm" for the full model.
    confident: for the cheap stage, whether its p_machine is outside the band it may not decide in.
    """

    p_machine: float
    decision: str
    reasons: list[dict]
    language: str
    language_confidence: float
    n_tokens: int
    stage: str
    confident: bool = True
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self, with_features: bool = False) -> dict:
        data = asdict(self)
        if not with_features:
            data.pop("features")
        return data
