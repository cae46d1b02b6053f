"""Texts to patients: never over 4,096 characters, split at sentence ends; never `{{`."""

from conversations.output import MAX_CHARS, text_clean, text_split


def test_short_text_is_one_message():
    assert text_split("Olá! Tudo bem?") == ["Olá! Tudo bem?"]
    assert text_split("   ") == []


def test_long_text_is_split_at_sentence_ends():
    sentence = "Esta é uma frase de exemplo sobre o preparo do exame de sangue. "
    text = sentence * 150  # about 9,600 characters
    parts = text_split(text)
    assert len(parts) == 3
    assert all(len(part) <= MAX_CHARS for part in parts)
    assert all(part.endswith(".") for part in parts)
    assert " ".join(parts) == text.strip()


def test_a_sentence_longer_than_a_message_is_cut_at_a_space():
    text = "palavra " * 1200
    parts = text_split(text)
    assert all(len(part) <= MAX_CHARS for part in parts)
    assert " ".join(parts).split() == text.split()


def test_mustache_braces_are_neutralised():
    assert "{{" not in text_clean("Olá {{name}}")
