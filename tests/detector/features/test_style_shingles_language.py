import numpy as np
import pytest

from detector.features.language import LanguageIdentifier
from detector.features.shingles import document_minhash, minhash_signature
from detector.features.style_model import StyleClassifier, frequency_class, topic_free_view
from detector.evaluation import auroc
from tests.helpers import ROOT, shared_rows

SHIPPED_STYLE = ROOT / "models" / "default" / "style.ftz"


def test_topic_free_view_keeps_structure_and_drops_subject():
    # Same shapes and frequency classes, different subjects.
    a = topic_free_view("The surgeon examined the patient, and the results were clear.")
    b = topic_free_view("The nurse examined the doctor, and the players were ready.")
    assert a == b
    assert "surgeon" not in a and "the" in a and "," in a


def test_view_carries_word_frequency_class_not_the_word():
    assert [frequency_class(w) for w in ("people", "examined", "tapestry", "qwzxv")] == ["5", "4", "3", "0"]
    common, rare = topic_free_view("They said it was good."), topic_free_view("They opined it was adroit.")
    assert common != rare and "opined" not in rare and "adroit" not in rare
    # Curly and straight apostrophes are the same word.
    assert frequency_class("don\u2019t") == frequency_class("don't") == "5"


def test_view_marks_newlines_and_numbers():
    view = topic_free_view("Total: 42 items\nDone")
    assert "<nl>" in view and "<num>" in view


def _balanced_rows(per_class=150):
    human = [r["text"] for r in shared_rows("train", limit=per_class, label="human", language="en")]
    machine = [r["text"] for r in shared_rows("train", limit=per_class, label="machine", language="en")]
    return human + machine, [0] * len(human) + [1] * len(machine)


def test_style_classifier_learns_and_round_trips(tmp_path):
    texts, labels = _balanced_rows()
    human = texts[: labels.count(0)]
    model = StyleClassifier(epoch=5).fit(texts, labels)
    p = model.predict_proba(texts)[:, 1]
    assert ((p >= 0) & (p <= 1)).all()
    assert p[len(human):].mean() > p[: len(human)].mean()
    model.save(tmp_path / "style.ftz")
    loaded = StyleClassifier.load(tmp_path / "style.ftz")
    # The saved model scores exactly as the fitted one: the classifier is trained on the fitted one's scores.
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)

    assert model.fit_auroc_ is not None and model.fit_auroc_ >= model.min_fit_auroc


def test_style_classifier_fit_does_not_depend_on_earlier_fits():
    """fastText fits in a process that had already fit models once ranked their own training data at
    AUROC 0.30 (0.81 as a first fit): the same data and seed must give the same model every time."""
    texts, labels = _balanced_rows()
    first = StyleClassifier(epoch=5).fit(texts, labels).predict_proba(texts)[:, 1]  # fit refuses a model that did not learn
    StyleClassifier(epoch=2, seed=5, min_fit_auroc=0.0).fit(texts[::2], labels[::2])
    again = StyleClassifier(epoch=5).fit(texts, labels).predict_proba(texts)[:, 1]
    assert (first == again).all()


def test_style_classifier_refits_then_refuses_a_model_that_did_not_learn(monkeypatch):
    texts, labels = _balanced_rows(30)
    tried = []
    original = StyleClassifier._train
    monkeypatch.setattr(StyleClassifier, "_train",
                        lambda self, path, lr, seed: tried.append((lr, seed)) or original(self, path, lr, seed))
    with pytest.raises(RuntimeError, match="did not learn.*seed 1: AUROC"):
        StyleClassifier(epoch=1, min_fit_auroc=1.01).fit(texts, labels)
    # Another seed first, then half the learning rate.
    assert tried == [(0.05, 0), (0.05, 1), (0.025, 0), (0.025, 1)]


def test_style_classifier_keeps_a_retry_that_learned(monkeypatch):
    """A first fit that ranked its own training data badly (it happened in a held-out refit) is replaced."""
    import detector.features.style_model as style_module

    texts, labels = _balanced_rows()
    original_train, original_auroc = StyleClassifier._train, style_module.auroc
    calls, checks = [], []
    monkeypatch.setattr(StyleClassifier, "_train",
                        lambda self, path, lr, seed: calls.append((lr, seed)) or original_train(self, path, lr, seed))
    # The first fit's self-check is made to fail; later ones are the real measurement.
    monkeypatch.setattr(style_module, "auroc",
                        lambda y, p: checks.append(1) or (0.28 if len(checks) == 1 else original_auroc(y, p)))
    # The bar is low on purpose: this checks which fit is kept, not how well it learned (tested above).
    model = StyleClassifier(min_fit_auroc=0.5).fit(texts, labels)
    assert calls == [(0.05, 0), (0.05, 1)]
    assert model.fit_auroc_ == original_auroc(labels, model.predict_proba(texts)[:, 1]) >= model.min_fit_auroc


def test_shipped_style_model_separates_dev_documents():
    """The shipped artefact itself, on labelled text it never trained on (a saturated model once shipped)."""
    rows = shared_rows("dev", limit=400, language="en")
    y = [int(r["label"] == "machine") for r in rows]
    p = StyleClassifier.load(SHIPPED_STYLE).predict_proba([r["text"] for r in rows])[:, 1]
    # The saturated model scored nearly everything 0 or 1 and ranked dev at 0.52.
    assert np.mean((p > 0.01) & (p < 0.99)) > 0.5
    # Detector v2's style model is fit on the rows with LM outputs (about 16,000, most from modern.jsonl,
    # a quarter from train.jsonl's distribution, which dev shares): 0.662 here, against 0.88 for v1's,
    # fit on all 37,000 rows of train.jsonl. It is one input of the stack (dev AUROC 0.922 in the card).
    assert auroc(y, p) > 0.6


def test_minhash_finds_near_duplicates():
    rows = shared_rows("human_pool", limit=2)
    base, other = rows[0]["text"], rows[1]["text"]
    near = base.replace(".", "!", 1)
    jaccard = document_minhash(base).jaccard(document_minhash(near))
    assert jaccard > 0.8
    assert document_minhash(base).jaccard(document_minhash(other)) < 0.2
    sig = minhash_signature(base)
    assert sig.dtype == np.uint64 and sig.shape == (128,)
    np.testing.assert_array_equal(sig, minhash_signature(base))


def test_language_identification_on_real_text():
    identifier = LanguageIdentifier()
    for language in ("en", "zh", "ru", "es"):
        row = shared_rows("dev", limit=1, language=language)[0]
        assert identifier.identify(row["text"])[0] == language
    assert identifier.identify("   ") == ("und", 0.0)
