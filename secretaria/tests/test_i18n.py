"""The painel's pt-BR catalogue is compiled from its source."""

import polib

from secretaria.testing.processes import BASE_DIR

CATALOGUE = BASE_DIR / "locale" / "pt_BR" / "LC_MESSAGES"


def test_committed_mo_matches_the_po(tmp_path):
    compiled = tmp_path / "django.mo"
    polib.pofile(str(CATALOGUE / "django.po")).save_as_mofile(str(compiled))
    assert compiled.read_bytes() == (CATALOGUE / "django.mo").read_bytes(), "run `make messages`"


def test_every_entry_is_translated():
    catalogue = polib.pofile(str(CATALOGUE / "django.po"))
    assert catalogue.percent_translated() == 100
