"""Start-up of the scalar `kdbound upper --gen-t 0.05 --kl 0.2 --sigma 0.1`, as whole processes, in rounds.

Goal (issues 2 and 16): median ratio to `python -c "import numpy"` <= 1.5, measured in the same run.
Issue 7: against the same command built from an earlier commit (``--against-ref REF``): no slower.

Each round runs every command once, in turn (numpy first), so that a busy machine slows them alike;
the ratios are taken within a round and summarised by their median and quartiles, for wall-clock
time and for CPU time (user + system of the child, less sensitive to other load).

By default the console script is HEAD's, built as a user gets it: ``pip install .`` of a checkout of
HEAD into a fresh virtual environment (compiled ``.pyc`` files; no editable-install import hook, which
adds ~14 ms), with the typer and click installed here.  ``--installed`` times the console script next
to this interpreter instead (quick, but an editable install is slower, and more so when
PYTHONDONTWRITEBYTECODE keeps its modules uncompiled).  ``--teardown`` adds the same command ended by
the interpreter's own finalization (``sys.exit``), which the console script skips.  ``--profile`` adds
the imports of a scalar run one layer at a time (numpy, typer and click, kdbound), each ended by
``os._exit`` as the console script is: the differences are what each layer costs.
71f3ebc (before issue 7) needs ``--typer 0.20.1``.

Run:  python benchmarks/bench_startup.py [--repeats 40] [--installed] [--teardown] [--profile] [--against-ref REF]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from _timing import rounds

ARGS = ["upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1"]
REPO = Path(__file__).resolve().parent.parent
#: the command ended by the interpreter's finalization, as the console script did before issue 16
TEARDOWN = ("import sys; sys.argv[0] = 'kdbound'; from kdbound.cli.main import main; sys.exit(main())")
#: --profile: the imports of a scalar run, added one layer at a time, each process ended by os._exit
#: (no finalization, as the console script): the differences are what each layer costs
PROFILE = {"  python, nothing imported": "pass",
           "  + numpy": "import numpy",
           "  + typer and click (typer.main)": "import numpy, typer.main",
           "  + kdbound's modules of a scalar run": "import numpy, typer.main, kdbound.cli.main"}


def build(ref: str, where: Path, typer: str) -> Path:
    """The bin/ folder of a fresh venv under ``where`` with ``ref`` installed by ``pip install .``."""
    tree, env = where / f"tree-{ref}", where / f"venv-{ref}"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-f", str(tree), ref], check=True,
                   capture_output=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        pins = [f"typer=={typer}", f"click=={version('click')}"]
        done = subprocess.run([str(env / "bin" / "pip"), "install", "-q", str(tree), *pins], capture_output=True,
                              text=True)
        if done.returncode:
            sys.exit(f"cannot install {ref} with {' '.join(pins)} (choose another with --typer):\n{done.stderr}")
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    return env / "bin"


def installed() -> Path:
    """The bin/ folder of the console script next to this interpreter (not a pyenv shim)."""
    exe = Path(sys.executable).with_name("kdbound")
    if not exe.exists():
        found = shutil.which("kdbound") or sys.exit("install kdbound first (pip install -e .)")
        exe = Path(found)
    return exe.parent


def summary(ratios: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return f"{statistics.median(ratios):.3f} [{q1:.3f}, {q3:.3f}]"


def report(commands: dict, times: dict, base: str) -> None:
    """Median times of every command, and its ratios to ``base`` within each round."""
    print(f"{'':50s} {'wall ms':>8s} {'cpu ms':>8s}   ratio to {base}: median [quartiles], wall | cpu")
    for name in commands:
        wall = [t[0] for t in times[name]]
        cpu = [t[1] for t in times[name]]
        line = f"{name:50s} {statistics.median(wall) * 1000:8.1f} {statistics.median(cpu) * 1000:8.1f}"
        if name != base:
            line += (f"   {summary([w / b[0] for w, b in zip(wall, times[base])])} | "
                     f"{summary([c / b[1] for c, b in zip(cpu, times[base])])}")
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=40, help="rounds (default 40)")
    parser.add_argument("--typer", default=version("typer"), help="typer version of the builds (default: this one's)")
    parser.add_argument("--installed", action="store_true", help="time the console script next to this interpreter")
    parser.add_argument("--teardown", action="store_true", help="also time the command ended by finalization")
    parser.add_argument("--against-ref", metavar="REF", help="also time this commit's build")
    parser.add_argument("--profile", action="store_true", help="also time the imports, one layer at a time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        head = installed() if args.installed else build("HEAD", Path(tmp), args.typer)
        numpy = "python -c 'import numpy'"
        commands = {numpy: [str(head / "python"), "-c", "import numpy"],
                    "kdbound " + " ".join(ARGS): [str(head / "kdbound"), *ARGS]}
        if args.teardown:
            commands["... ended by the interpreter's finalization"] = [str(head / "python"), "-c", TEARDOWN, *ARGS]
        if args.profile:
            commands.update({name: [str(head / "python"), "-c", f"{code}; import os; os._exit(0)"]
                             for name, code in PROFILE.items()})
        if args.against_ref:
            ref = build(args.against_ref, Path(tmp), args.typer)
            commands[f"... built from {args.against_ref}"] = [str(ref / "kdbound"), *ARGS]
        rounds(commands, 3, cwd=tmp)  # warm the file cache
        times = rounds(commands, args.repeats, cwd=tmp)
    how = "the console script next to this interpreter" if args.installed else "pip install . of HEAD"
    print(f"{how}, typer {args.typer}, {args.repeats} rounds; goal: kdbound <= 1.5x numpy"
          + (f", and no slower than {args.against_ref}" if args.against_ref else ""))
    report(commands, times, numpy)
    if args.against_ref:
        name = f"... built from {args.against_ref}"
        head_name = "kdbound " + " ".join(ARGS)
        print(f"HEAD / {args.against_ref}: wall "
              f"{summary([h[0] / r[0] for h, r in zip(times[head_name], times[name])])}, cpu "
              f"{summary([h[1] / r[1] for h, r in zip(times[head_name], times[name])])}")


if __name__ == "__main__":
    main()
