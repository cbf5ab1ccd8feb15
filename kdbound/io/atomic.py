"""Output files that appear whole or not at all, without damaging what is there.

* A regular file (new or existing) is written under a short temporary name in
  the target's folder and renamed onto it when complete, keeping an existing
  file's permission bits; a failure removes the temporary.
* A symbolic link is followed, as shell redirection does: its target is
  replaced, the link stays.
* A character device or FIFO (``/dev/null``, a named pipe) is written
  straight through: it cannot be replaced, only written to.
* ``SIGTERM`` removes live temporaries too (:func:`remove_temporaries`).
* Ctrl-C (``SIGINT``) is recorded (:func:`note_interrupt`) as well as raised, so that an
  interrupt that some library swallowed still stops the run: no result file is put in
  place once it arrived, and :func:`drop_results` removes the result files the run
  created before it (``result=True``; a resumable record such as distill's runs file
  stays).
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import InputError
from .stdout import StdoutClosed

#: temporaries not yet committed or removed (cleaned up on SIGTERM)
_LIVE: set[str] = set()
#: result files this process created (removed again if it is interrupted)
_CREATED: list[str] = []
#: whether Ctrl-C arrived (set by the console script's SIGINT handler)
_INTERRUPTED = [False]


def note_interrupt() -> None:
    """Record that Ctrl-C arrived (the SIGINT handler calls this before raising KeyboardInterrupt)."""
    _INTERRUPTED[0] = True


def interrupted() -> bool:
    """Whether Ctrl-C arrived in this process (even if a library swallowed its KeyboardInterrupt)."""
    return _INTERRUPTED[0]


def drop_results() -> None:
    """An interrupted run: remove the temporaries and every result file it created."""
    remove_temporaries()
    for path in _CREATED:
        try:
            os.unlink(path)
        except OSError:
            pass
    _CREATED.clear()


def remove_temporaries() -> None:
    """Remove every temporary file still open (called when the process is terminated)."""
    for tmp in list(_LIVE):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _LIVE.discard(tmp)


def resolve_output(path: str, option: str = "output") -> tuple[str, bool]:
    """(the file to write, whether it is written straight through), or InputError.

    Checks what can be checked before any work is done: an empty name, a
    folder, a missing or unwritable folder.
    """
    if path == "":
        raise InputError("must name a file (got '')", option)
    try:  # the kernel follows the links itself: /dev/stdout and >(...) name pipes that realpath cannot
        direct = os.stat(path)
    except FileNotFoundError:  # a new file (or a dangling link: its target's folder is checked below)
        direct = None
    except OSError as exc:
        raise InputError(f"cannot write {path!r} ({exc.strerror})", option) from None
    if direct is not None and (stat.S_ISCHR(direct.st_mode) or stat.S_ISFIFO(direct.st_mode)):
        if not os.access(path, os.W_OK):
            raise InputError(f"cannot write {path!r} (permission denied)", option)
        return path, True
    target = os.path.realpath(path)  # follows symlinks, like shell redirection
    if path.endswith(os.sep) or os.path.isdir(target):
        raise InputError(f"{path!r} is a folder, not a file", option)
    if direct is not None and not stat.S_ISREG(direct.st_mode):  # devices and pipes were taken above
        raise InputError(f"{path!r} is not a regular file, device or pipe", option)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        via = f" (the link {path!r} points there)" if os.path.islink(path) else ""
        raise InputError(f"folder {folder!r} does not exist{via}", option)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path!r} (the folder is not writable)", option)
    # a real probe: some places refuse new files whatever the permission bits say (/proc, read-only mounts)
    probe = os.path.join(folder, f".kdbound-probe-{os.urandom(5).hex()}")
    _LIVE.add(probe)  # removed even if a signal arrives in between
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise InputError(f"cannot write {path!r} ({exc.strerror})", option) from None
    finally:
        try:
            os.unlink(probe)
        except OSError:
            pass
        _LIVE.discard(probe)
    return target, False


def refuse_inputs(path: str, option: str, inputs) -> None:
    """An output ``path`` that names one of the run's inputs is refused, before any work: ``inputs`` holds
    ``(option, given path, companions)`` with the files kdbound keeps beside that input (a runs file's
    settings and journal).  Without this, ``-o`` onto the table being read, or onto distill's runs file,
    replaced it with the report."""
    if path in (None, "-"):
        return
    for name, given, companions in inputs:
        if given in (None, "-"):
            continue
        for candidate in (given, *companions):
            if _same_file(path, candidate):
                what = "" if candidate == given else f" (its {os.path.basename(candidate)!r})"
                label, refs = (name, ()) if name.isupper() else ("{" + name + "}", (name,))
                raise InputError(f"is the file of {label}{what}: kdbound never writes over its input, nor one "
                                 "file twice; choose another file", option, refs=refs)


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def write_error(path: str, option: str, exc: OSError) -> Exception:
    """What a failed write means: the reader of a pipe went away (EPIPE, as with ``-o /dev/stdout | head``),
    which ends the run quietly like a closed stdout, or an error naming the file (a full disk)."""
    if exc.errno == errno.EPIPE:
        return StdoutClosed()
    return InputError(f"cannot write {path!r} ({exc.strerror or exc})", option)


class AtomicFile:
    """A temporary file beside ``path``, renamed onto it by :meth:`commit` or removed by :meth:`abort`.

    The one mechanism behind every output file (batch tables, sweeps, plots).
    ``tmp`` is the name to write to (the device itself for a device or FIFO).
    As a context manager it yields that name and commits on success.
    """

    def __init__(self, path: str, option: str = "output", result: bool = False):
        self.path, self.option, self.result = path, option, result
        self.target, self.direct = resolve_output(path, option)
        if self.direct:
            self.tmp = self.target
            return
        folder = os.path.dirname(self.target)
        ext = os.path.splitext(self.target)[1][:12]
        for _ in range(100):
            tmp = os.path.join(folder, f".kdbound-{os.urandom(5).hex()}.part{ext}")
            # named before it exists: a signal whose handler runs just after the file is created still
            # finds it in _LIVE (a handler that finds no file ignores the name)
            _LIVE.add(tmp)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                _LIVE.discard(tmp)
                continue
            except OSError as exc:
                _LIVE.discard(tmp)
                raise InputError(f"cannot write {path!r} ({exc.strerror})", option) from None
        else:  # pragma: no cover - 100 collisions of 40 random bits
            raise InputError(f"cannot create a temporary file beside {path!r}", option)
        os.close(fd)
        self.tmp = tmp

    def commit(self) -> None:
        """Put the complete file in place, with the old file's permissions (or a new file's)."""
        if self.direct:
            return
        if interrupted():  # Ctrl-C came (and was swallowed somewhere): the file is not put in place
            self.abort()
            raise KeyboardInterrupt
        try:
            self._replace()
        except OSError as exc:
            self.abort()
            raise write_error(self.path, self.option, exc) from None

    def _replace(self) -> None:
        try:
            mode = stat.S_IMODE(os.stat(self.target).st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
            if self.result:
                _CREATED.append(self.target)
        os.chmod(self.tmp, mode)
        os.replace(self.tmp, self.target)
        _LIVE.discard(self.tmp)

    def abort(self) -> None:
        """Remove the temporary (a device or FIFO is left as it is)."""
        if self.direct:
            return
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
        _LIVE.discard(self.tmp)

    def __enter__(self) -> str:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        self.abort()
        if isinstance(exc, OSError):  # writing failed (a full disk, /dev/full): the user's environment, not a bug
            raise write_error(self.path, self.option, exc) from None


def write_text(path: str, text: str, option: str = "output") -> None:
    """``text`` (UTF-8) to ``path`` atomically: the whole file or none (a failed write is one line)."""
    with AtomicFile(path, option, result=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
