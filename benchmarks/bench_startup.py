"""Start-up of a scalar `kdbound upper ... --format json`, as a whole process, in paired runs.

Issue 2: against `python -c "import numpy"`; goal: median ratio <= 1.5.
Issue 7: against the same command built from an earlier commit (``--against-ref REF``); goal: no slower.
With ``--against-ref``, both sides are built the same way: ``pip install .`` of HEAD's and REF's trees into
two fresh virtual environments, with the typer and click installed here (an editable install adds an import
hook, ~14 ms, that a user's install does not have).  71f3ebc (before issue 7) needs ``--typer 0.20.1``.

Run:  python benchmarks/bench_startup.py [--repeats 30] [--against-ref REF]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from _timing import paired

ARGS = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--format", "json"]
REPO = Path(__file__).resolve().parent.parent


def build(ref: str, where: Path) -> str:
    """The console script of ``ref`` installed with ``pip install .`` in a fresh venv under ``where``."""
    tree, env = where / f"tree-{ref}", where / f"venv-{ref}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), ref], check=True,
                   capture_output=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        pins = [f"typer=={args.typer}", f"click=={version('click')}"]
        done = subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(tree), *pins], capture_output=True,
                              text=True)
        if done.returncode:
            sys.exit(f"cannot install {ref} with {' '.join(pins)} (choose another with --typer):\n{done.stderr}")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return str(env / "bin" / "kdbound")


parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=30)
parser.add_argument("--typer", default=version("typer"), help="typer version for both builds (default: this one's)")
parser.add_argument("--against-ref", metavar="REF", help="pair HEAD with this commit (both: pip install .)")
args = parser.parse_args()

if args.against_ref:
    with tempfile.TemporaryDirectory() as tmp:
        head, ref = build("HEAD", Path(tmp)), build(args.against_ref, Path(tmp))
        paired([head, *ARGS], [ref, *ARGS], 3)  # warm the file cache
        c, b, ratio = paired([head, *ARGS], [ref, *ARGS], args.repeats)
    print(f"kdbound upper --format json: HEAD {c * 1000:.0f} ms; {args.against_ref} {b * 1000:.0f} ms; "
          f"median paired ratio {ratio:.3f} (goal: no slower)")
    sys.exit()

# the console script next to this interpreter (not a pyenv shim, which adds its own start-up)
exe = str(Path(sys.executable).with_name("kdbound"))
if not Path(exe).exists():
    exe = shutil.which("kdbound") or sys.exit("install kdbound first (pip install -e .)")
cand = [exe, *ARGS]
base = [sys.executable, "-c", "import numpy"]
paired(cand, base, 3)  # warm the file cache
c, b, ratio = paired(cand, base, args.repeats)
print(f"kdbound upper --format json: {c * 1000:.0f} ms; python -c 'import numpy': {b * 1000:.0f} ms; "
      f"median paired ratio {ratio:.2f} (goal <= 1.5)")
