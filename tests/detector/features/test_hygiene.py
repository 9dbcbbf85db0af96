from detector.features.hygiene import HYGIENE_FEATURE_NAMES, normalize_for_scoring


def test_invisible_and_control_characters_are_removed_and_counted():
    result = normalize_for_scoring("con\u200bfi\u200ddential\u202e report\x07\x00 end")
    assert result.text == "confidential report end"
    assert result.invisible == 3
    assert result.control == 2


def test_mixed_script_homoglyphs_fold_to_latin_but_cyrillic_words_stay():
    # 'раураl' mixes five Cyrillic letters (р, а, у) with a Latin l: a look-alike attack on "paypal".
    result = normalize_for_scoring("Log in to раураl now. Привет мир")
    assert "paypal" in result.text
    assert "Привет мир" in result.text
    assert result.homoglyphs == 5


def test_nfkc_folds_compatibility_forms_and_counts_them():
    result = normalize_for_scoring("ﬁnal ＡＢＣ")
    assert result.text == "final ABC"
    assert result.nfkc_changed == 4


def test_clean_text_is_unchanged_and_features_are_zero():
    text = "A plain sentence.\nAnother line."
    result = normalize_for_scoring(text)
    assert result.text == text
    assert result.features() == [0.0] * len(HYGIENE_FEATURE_NAMES)


def test_features_scale_per_thousand_characters():
    result = normalize_for_scoring("a\u200b" * 500)
    assert result.features()[0] == 1000.0
