"""The German catalogue: every user-facing string (and every sentence zxcvbn can say) is translated,
keeps its placeholders and markup, nothing stale; catalogues compile when missing or outdated.
Choosing the language on the pages is tests/e2e/test_i18n.py."""

from __future__ import annotations

import re

import pytest
from babel.messages.checkers import checkers
from babel.messages.pofile import read_po

from idp.http import i18n

GERMAN = i18n.TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="module")
def german():
    with GERMAN.open("rb") as fh:
        return read_po(fh, locale="de")


@pytest.fixture(scope="module")
def extracted():
    return i18n.extract_messages()


def test_every_user_facing_string_is_in_the_german_catalogue(german, extracted):
    missing = sorted(str(m.id) for m in extracted if m.id and german.get(m.id) is None)
    assert not missing, "run `python -m idp.http.i18n update` and translate:\n" + "\n".join(missing)


def test_every_german_entry_is_translated_and_not_fuzzy(german):
    untranslated = [
        m.id for m in german if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    fuzzy = [m.id for m in german if m.id and m.fuzzy]
    assert not untranslated and not fuzzy, (untranslated, fuzzy)


def test_german_translations_keep_every_placeholder(german):
    problems = []
    for message in german:
        if not message.id:
            continue
        for checker in checkers:
            try:
                checker(german, message)
            except Exception as error:  # babel raises TranslationError subclasses
                problems.append(f"{message.id!r}: {error}")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        html_tags = {tuple(re.findall(r"</?[a-z]+", s)) for s in ids + strings}
        if len(html_tags) > 1:
            problems.append(f"{message.id!r}: markup differs")
    assert not problems, problems


def test_the_catalogue_has_no_strings_the_code_no_longer_uses(german, extracted):
    stale = sorted(str(m.id) for m in german if m.id and extracted.get(m.id) is None)
    assert not stale, stale


def test_catalogues_are_compiled_when_missing_or_outdated(tmp_path):
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes(GERMAN.read_bytes())
    target = i18n.compile_catalogues(tmp_path / "translations")
    mo = target / "de" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists() and mo.stat().st_size > 1000
    first = mo.stat().st_mtime_ns
    assert i18n.compile_catalogues(tmp_path / "translations") == target and mo.stat().st_mtime_ns == first


def test_a_read_only_translations_folder_compiles_into_a_cache(tmp_path):
    folder = tmp_path / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes(GERMAN.read_bytes())
    (tmp_path / "translations").chmod(0o555)
    try:
        target = i18n.compile_catalogues(tmp_path / "translations")
    finally:
        (tmp_path / "translations").chmod(0o755)
    if target == tmp_path / "translations":  # root ignores permissions: nothing to prove here
        assert (target / "de" / "LC_MESSAGES" / "messages.mo").exists()
    else:
        assert (target / "de" / "LC_MESSAGES" / "messages.mo").exists()
        assert not (folder / "messages.mo").exists()


def test_every_sentence_zxcvbn_can_say_is_in_the_catalogue():
    """zxcvbn answers in English; a new version with new sentences must not leak them untranslated."""
    import ast
    from pathlib import Path

    import zxcvbn.feedback

    from idp.domain.password_policy import ZXCVBN_FEEDBACK

    tree = ast.parse(Path(zxcvbn.feedback.__file__).read_text())
    said = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "_"}
    assert said and said <= set(ZXCVBN_FEEDBACK), sorted(said - set(ZXCVBN_FEEDBACK))
