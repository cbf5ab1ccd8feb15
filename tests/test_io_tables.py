"""io/table_read.py and io/table_write.py: the tables a batch reads and writes (CSV, TSV, JSON Lines,
Parquet): keys and types, pass-through cells, nulls, unusual input, empty tables."""

import json
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import invoke, one_line_error


# ----------------------------------------------------------------------------- JSON Lines

def test_late_jsonl_keys_stop_with_row_and_key(tmp_path):
    rows = "".join(json.dumps({"gen_t": 0.05, "kl": 0.1}) + "\n" for _ in range(200))
    for key in ("note", "loss_min"):
        r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-o", tmp_path / "out.parquet",
                   input=rows + json.dumps({"gen_t": 0.05, "kl": 0.1, key: 1}) + "\n", chunk_bytes=500)
        one_line_error(r, "row 201", repr(key))
        assert os.listdir(tmp_path) == []  # no partial file, no ParquetWriter complaint at exit


def test_jsonl_keys_may_vary_within_the_first_rows():
    text = '{"gen_t": 0.05, "kl": 0.1}\n{"gen_t": 0.05, "kl": 0.2, "tag": "x"}\n'
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "csv", input=text)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("gen_t,kl,tag,bound") and len({line.count(",") for line in lines}) == 1


def test_jsonl_values_keep_their_json_types():
    line = '{"gen_t": 0.05, "kl": 0.1, "z": "08123", "nest": {"a": [1]}, "t": true, "x": 1.50}\n'
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "jsonl", input=line)
    row = json.loads(r.stdout)
    assert row["z"] == "08123" and row["nest"] == {"a": [1]} and row["t"] is True and row["x"] == 1.5
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "csv", input=line)
    header, values = r.stdout.splitlines()
    assert values.startswith('0.05,0.1,08123,"{""a"": [1]}",true,1.50,')


def test_jsonl_strings_outside_the_text_set_come_back_without_their_quotes(tmp_path):
    from kdbound.io import table_read

    path = tmp_path / "t.jsonl"
    path.write_text('{"spec": "tree:depth=3", "x": 1.50, "t": true, "nest": {"a": 1}, "none": null}\n'
                    '{"spec": "a\\"b", "x": 2, "t": false, "nest": [1], "none": null}\n')
    for found in (table_read.read_columns(str(path), "jsonl", {"x"}),
                  table_read.read_columns_of(path.read_bytes(), "jsonl", set())):
        assert found["spec"].to_pylist() == ["tree:depth=3", 'a"b']  # not '"tree:depth=3"'
        assert found["t"].to_pylist() == ["true", "false"] and found["nest"].to_pylist() == ['{"a": 1}', "[1]"]
        assert found["none"].to_pylist() == [None, None]
    assert table_read.read_columns(str(path), "jsonl", {"x"})["x"].to_pylist() == ["1.50", "2"]


def test_jsonl_pass_through_strings_show_without_quotes_in_a_table():
    line = '{"gen_t": 0.05, "kl": 0.1, "name": "tree:depth=3"}\n'
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", "table", input=line, tty=True)
    assert r.exit_code == 0, r.stderr
    assert "tree:depth=3" in r.stdout and '"tree:depth=3"' not in r.stdout
    for fmt in ("csv", "tsv"):
        r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1", "-f", fmt, input=line)
        assert '"' not in r.stdout and "tree:depth=3" in r.stdout


def test_a_json_lines_key_given_twice_is_refused():
    r = invoke("upper", "-i", "-", "--input-format", "jsonl", "--sigma", "0.1",
               input='{"gen_t": 0.05, "kl": 0.1}\n{"gen_t": 0.05, "kl": 0.1, "kl": 0.2}\n')
    one_line_error(r, "--input: row 2 has the key 'kl' twice")


# ----------------------------------------------------------------------------- pass-through columns and Parquet types

def test_pass_through_cells_come_out_as_they_went_in(tmp_path):
    text = "zip,gen_t,kl,code\n08123,0.05,0.2,1e3\n00001,0.1,0.3,abc\n"
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", input=text)
    out = [line.split(",") for line in r.stdout.splitlines()]
    assert [row[0] for row in out] == ["zip", "08123", "00001"] and [row[3] for row in out] == ["code", "1e3", "abc"]
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "jsonl", input=text)
    assert [json.loads(line)["zip"] for line in r.stdout.splitlines()] == ["08123", "00001"]
    # integers for a whole block, then text: still valid
    big = "id,gen_t,kl\n" + "".join(f"{i},0.05,0.1\n" for i in range(3000)) + "abc,0.05,0.1\n"
    r = invoke("upper", "-i", "-", "--sigma", "0.1", "-f", "csv", input=big, chunk_bytes=1000)
    assert r.exit_code == 0 and r.stdout.splitlines()[-1].startswith("abc,")


def test_parquet_types_survive_and_nested_columns_become_json_text(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"gen_t": [0.05], "kl": [0.1], "when": pa.array([7], pa.int32()),
                             "s": pa.array([{"a": 1}])}), path)
    assert invoke("upper", "-i", path, "--sigma", "0.1", "-o", tmp_path / "o.parquet").exit_code == 0
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.schema.field("when").type == pa.int32() and t.column("s").to_pylist() == [{"a": 1}]
    r = invoke("upper", "-i", path, "--sigma", "0.1", "-f", "csv")
    assert r.exit_code == 0 and '"{""a"": 1}"' in r.stdout


def test_binary_pass_through_that_is_not_utf8_cannot_go_to_csv(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"gen_t": [0.05], "kl": [0.1], "raw": pa.array([b"\xff\xfe"], pa.binary())}), path)
    one_line_error(invoke("upper", "-i", path, "--sigma", "0.1", "-f", "csv"), "'raw'", "UTF-8")


# ----------------------------------------------------------------------------- cells and unusual input

@pytest.mark.parametrize("payload, fmt, words", [
    ("a,a,kl\n1,2,3\n", "csv", ["--input", "appears twice"]),
    (b"gen_t,kl,note\n0.05,0.2,caf\xe9\n", "csv", ["--input", "UTF-8"]),
    ('{"gen_t": 0.05, "kl": ' + "1" * 5000 + "}\n", "jsonl", ["kl", "must be finite"]),
    ('{"gen_t": 0.05, "kl": {"a": 1}}\n', "jsonl", ["column kl", "must be a number"]),
    ('{"gen_t": 0.05, "kl": [1, 2]}\n', "jsonl", ["column kl", "must be a number"]),
    ("[1, 2]\n", "jsonl", ["--input", "not a JSON object"]),
])
def test_unusual_input_is_exit_2(payload, fmt, words):
    data = payload if isinstance(payload, str) else payload.decode("latin-1")
    r = invoke("upper", "-i", "-", "--input-format", fmt, "--sigma", "0.1", "-f", "csv",
               input=payload if isinstance(payload, bytes) else data)
    one_line_error(r, *words)


@pytest.mark.parametrize("cell, message", [
    ("NA", "must be a number (got 'NA')"), ("null", "must be a number (got 'null')"),
    ("nan", "must be finite (got nan)"), ("", "must not be empty (got '')"),
    ("1_0", "must be a number (got '1_0')"), ("١٢", "must be a number (got '١٢')"),
])
def test_cells_say_what_they_hold(cell, message):
    r = invoke("upper", "-i", "-", "--sigma", "0.1", input=f"gen_t,kl\n0.05,{cell}\n")
    one_line_error(r, f"row 1, column kl: {message}")


# ----------------------------------------------------------------------------- what is written

def test_header_only_input_gives_valid_empty_outputs(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("gen_t,kl\n")
    assert invoke("upper", "-i", rows, "--sigma", "0.1", "-o", tmp_path / "out.parquet").exit_code == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 0 and "bound" in table.column_names
    r = invoke("upper", "-i", rows, "--sigma", "0.1", "-f", "csv")
    assert r.exit_code == 0 and r.stdout.startswith("gen_t,kl,bound") and len(r.stdout.splitlines()) == 1
    r = invoke("upper", "-i", rows, "--sigma", "0.1", "-f", "json")
    assert json.loads(r.stdout) == []


# mutation: arrow_column without the mask (NaN written as a number, not null)
def test_batch_nulls_are_empty_cells_and_parquet_nulls(run, tmp_path):
    text = "gen_t,kl\n0.05,0\n0.05,0.2\n"
    r = run("upper", "--input", "-", "--sigma", "0.1", "--format", "csv", input=text)
    assert r.exit_code == 0, r.stderr
    header, first, _ = r.stdout.splitlines()
    assert dict(zip(header.split(","), first.split(",")))["lambda_opt"] == ""
    out = tmp_path / "out.parquet"
    assert run("upper", "--input", "-", "--sigma", "0.1", "-o", out, input=text).exit_code == 0
    col = pq.read_table(out).column("lambda_opt")
    assert col.null_count == 1 and col.to_pylist()[1] == pytest.approx(math.sqrt(0.4) / 0.1)


# ----------------------------------------------------------------------------- line endings

@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_csv_with_any_line_ending_is_read(tmp_path, end):
    # old Mac OS files end lines with a lone CR: they were an internal error (exit 1)
    text = end.join(["gen_t,kl", "0.05,0.1", "0.05,0.2"]) + end
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode())
    for args in (("-i", path), ("-i", "-")):
        r = invoke("upper", *args, "--sigma", "0.1", "-f", "csv", input=text if args[1] == "-" else None)
        assert r.exit_code == 0, r.stderr
        rows = r.stdout.splitlines()
        assert rows[0].startswith("gen_t,kl,bound") and [row.split(",")[1] for row in rows[1:]] == ["0.1", "0.2"]
    runs = end.join(["role,train_loss,test_loss", *(f"{role},0.1,{0.2 + i / 100}" for i in range(5)
                                                    for role in ("teacher", "student"))]) + end
    (tmp_path / "runs.csv").write_bytes(runs.encode())
    r = invoke("estimate", tmp_path / "runs.csv", "-f", "json")
    assert r.exit_code == 0, r.stderr


def test_a_header_longer_than_a_read_and_a_crlf_split_across_reads():
    from kdbound.io.table_read import _header_line

    class Pieces:  # a pipe that hands out a few bytes at a time
        def __init__(self, data, size):
            self.data, self.size = data, size

        def read1(self, n):
            out, self.data = self.data[:min(n, self.size)], self.data[min(n, self.size):]
            return out

    assert _header_line(Pieces(b"a,b\r\n1,2\r\n", 4)) == (b"a,b", b"1,2")  # the CR ends the first read: the LF
    # that follows is read before the header is cut (the rest stays in the stream)
    assert _header_line(Pieces(b"x" * 200000 + b"\r1", 70000)) == (b"x" * 200000, b"1")
    assert _header_line(Pieces(b"a,b", 2)) == (b"a,b", b"")
