import numpy as np

from detector.features.stylometry import STYLOMETRY_FEATURE_NAMES, StylometryFeatures, moving_average_ttr
from tests.helpers import shared_rows

F = StylometryFeatures()


def feature(text, name):
    return F.transform(text)[STYLOMETRY_FEATURE_NAMES.index(name)]


def test_vector_matches_names_and_is_finite():
    vec = F.transform("One short line. Then, another one!\n\nA new paragraph; with a colon: yes.")
    assert vec.shape == (len(STYLOMETRY_FEATURE_NAMES),)
    assert np.isfinite(vec).all()


def test_empty_text_gives_finite_zeros():
    vec = F.transform("")
    assert np.isfinite(vec).all()


def test_sentence_length_statistics():
    text = "one two three. one two three four five six seven."
    assert feature(text, "sty_sentence_len_mean") == 5.0
    assert feature(text, "sty_sentence_len_std") == 2.0


def test_mattr_is_length_robust_where_plain_ttr_is_not():
    rows = shared_rows("human_pool", limit=40)
    words = " ".join(r["text"] for r in rows).lower().split()
    short, long = words[:300], words[:3000]
    plain_short, plain_long = len(set(short)) / len(short), len(set(long)) / len(long)
    assert plain_long < plain_short - 0.15
    assert abs(moving_average_ttr(long) - moving_average_ttr(short)) < 0.05


def test_repetition_raises_repeated_ngram_rate():
    varied = "the cat sat on a mat while dogs ran across green fields under bright skies"
    repeated = "the cat sat on the mat " * 5
    assert feature(repeated, "sty_repeated_trigram_rate") > 0.5
    assert feature(varied, "sty_repeated_trigram_rate") == 0.0


def test_punctuation_function_words_and_lists():
    text = "Notes:\n- first item\n- second item\n1. third; it is the end"
    assert feature(text, "sty_punct_semicolon_per_1k") > 0
    assert feature(text, "sty_list_item_share") == 0.75
    assert feature(text, "sty_fw_the") > 0


def test_cjk_text_counts_characters_as_words():
    rows = shared_rows("dev", limit=1, language="zh")
    vec = F.transform(rows[0]["text"])
    assert vec[STYLOMETRY_FEATURE_NAMES.index("sty_word_len_mean")] < 2.5
    assert vec[STYLOMETRY_FEATURE_NAMES.index("sty_non_ascii_share")] > 0.5


def test_hapax_share_does_not_fall_with_length():
    rows = shared_rows("human_pool", limit=40)
    words = " ".join(r["text"] for r in rows).lower().split()
    from detector.features.stylometry import windowed_hapax_share

    assert abs(windowed_hapax_share(words[:200]) - windowed_hapax_share(words[:4000])) < 0.08


def test_hard_wrapped_lines_are_not_sentence_ends():
    wrapped = "This sentence is long and it was\nwrapped at a fixed width by an old\nmail client. Short one here."
    assert feature(wrapped, "sty_sentence_len_mean") == 10.0  # 17 words, then 3
    assert feature("one\n\ntwo three", "sty_sentence_len_mean") == 1.5
