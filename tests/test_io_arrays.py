"""io/arrays.py: the arrays linear-gaussian and simulate read (.npy, .npz, CSV and TSV text)."""

import numpy as np
import pytest

from kdbound.errors import InputError
from kdbound.io.arrays import load_array


def test_file_formats_round_trip(tmp_path):
    a = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "one.npz", a)
    np.savez(tmp_path / "two.npz", x=a, y=2 * a)
    np.savetxt(tmp_path / "plain.csv", a, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "head.csv", a, delimiter=",", fmt="%.17g", header="f1,f2,f3", comments="")
    np.savetxt(tmp_path / "a.tsv", a, delimiter="\t", fmt="%.17g", header="f1\tf2\tf3", comments="")
    for name in ("plain.csv", "head.csv", "a.tsv"):  # the same text with a UTF-8 byte-order mark (as Excel writes)
        (tmp_path / f"bom-{name}").write_bytes(b"\xef\xbb\xbf" + (tmp_path / name).read_bytes())
    for spec in ("a.npy", "one.npz", "two.npz:x", "plain.csv", "head.csv", "a.tsv",
                 "bom-plain.csv", "bom-head.csv", "bom-a.tsv"):
        np.testing.assert_array_equal(load_array(str(tmp_path / spec), "x"), a)
    np.testing.assert_array_equal(load_array(str(tmp_path / "two.npz:y"), "x"), 2 * a)


# mutations: the header-size check removed (a truncated file is then "cannot read", not "truncated"); bool arrays
# not converted to float; the object-dtype check removed (an .npz member then fails with numpy's words)
def test_array_files_are_checked_and_converted(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((100, 3)))
    path.write_bytes(path.read_bytes()[:-80])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_array(str(path), "x")
    np.save(tmp_path / "b.npy", np.array([[True, False]]))
    arr = load_array(str(tmp_path / "b.npy"), "x")
    assert arr.dtype == np.float64 and arr.tolist() == [[1.0, 0.0]]
    np.savez(tmp_path / "o.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="pickled Python objects; kdbound never unpickles"):
        load_array(str(tmp_path / "o.npz"), "x")
