"""kdbound/formats.py: the grammar of the numbers kdbound reads, in options and in table cells."""

import re

import pytest
from conftest import invoke, one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbound.formats import parse_number


@pytest.mark.parametrize("spelling", ["1_0", "١٢", "0x10", "1,5"])
def test_unusual_number_spellings_are_refused_as_options(spelling):
    one_line_error(invoke("upper", "--gen-t", "0", "--sigma", "1", "--kl", spelling), "--kl", repr(spelling))


# the grammar of the numbers kdbound reads, written as a regular expression: the reference parse_number must agree with
_SPELLING = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*", re.I)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.eE+-_ x\t\u00a0\u0663nNaAiIfFtTyY,", max_size=9))
def test_number_spellings_follow_the_documented_grammar(text):
    expected = float(text) if _SPELLING.fullmatch(text) else None
    got = parse_number(text)
    assert (got is None) == (expected is None), text
    assert got is None or got == expected or (got != got and expected != expected), text
