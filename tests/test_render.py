"""render/: values as tables show them, columns that fit, and the Environment tests swap."""

import math

from kdbound.render.report import fit_columns
from kdbound.render.values import table_text


# ----------------------------------------------------------------------------- values and columns

# mutation: -inf shown as +inf in tables
def test_table_text_of_infinities():
    assert (table_text(-math.inf), table_text(math.inf), table_text(math.nan)) == ("-inf", "+inf", "—")


# mutation: fit_columns ignores the columns to keep
def test_kept_columns_come_first_when_space_is_short():
    names = ["aaaa", "bound", "cc"]
    texts = {"aaaa": ["1"], "bound": ["0.5"], "cc": ["2"]}
    assert fit_columns(names, texts, width=12, keep=("bound",)) == ["bound"]
    assert fit_columns(names, texts, width=200, keep=("bound",)) == names


# ----------------------------------------------------------------------------- the Environment

def test_environment_replace_keeps_every_setting():
    import io

    from kdbound.render import Environment

    out = io.StringIO()
    env = Environment(out=out, stdout_isatty=True, stderr_isatty=False, no_color=True, chunk_bytes=7)
    quiet = env.replace(quiet=True)
    assert quiet is not env and quiet.quiet and not env.quiet
    assert (quiet.out, quiet.stdout_isatty, quiet.stderr_isatty, quiet.no_color, quiet.chunk_bytes) == (
        out, True, False, True, 7)
    assert "chunk_bytes=7" in repr(quiet)


def test_environment_reads_no_color_when_not_given(monkeypatch):
    from kdbound.render import Environment

    monkeypatch.setenv("NO_COLOR", "1")
    assert Environment().no_color
    monkeypatch.delenv("NO_COLOR")
    assert not Environment().no_color and Environment(no_color=True).no_color
