"""The command line's failures: one line each, naming the file and what to do, the documented
exit codes (2: nothing could run or the run stopped; 130/143: interrupted), and no traceback
unless --debug asks for it."""

from __future__ import annotations

import ctypes
import errno
import importlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import xpipe.runner
import xpipe.store
from xpipe import cli

ROOT = Path(__file__).resolve().parents[1]
PONI = ROOT / "example_data" / "nvp_operando" / "geometry.poni"
RECIPE = ("name: two patterns\noutput: {output}\nxrd:\n"
          "  patterns: {{files: 'p_*.xy', time_source: mtime}}\n  figures: {{contour: false}}\n")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two 1D patterns and a recipe that reads them into ``out``."""
    x = np.linspace(10.0, 20.0, 201)
    y = 100 + 900 * np.exp(-((x - 15) ** 2))
    for i in range(2):
        np.savetxt(tmp_path / f"p_{i}.xy", np.column_stack([x, y]))
    _recipe(tmp_path)
    return tmp_path


def _recipe(folder: Path, output: str = "out") -> Path:
    path = folder / "recipe.yaml"
    path.write_text(RECIPE.format(output=output))
    return path


def _obey_permissions() -> None:
    """In a child run by root: drop the capabilities that let root write whatever the
    permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that the program it runs obeys them."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


def _xpipe(*args, limit_bytes: int | None = None, obey_permissions: bool = False) -> subprocess.CompletedProcess:
    def set_up():  # in the child only
        if limit_bytes:  # writes beyond limit_bytes fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        if obey_permissions and os.geteuid() == 0:
            _obey_permissions()

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "xpipe", *map(str, args)], capture_output=True, text=True,
                          env=env, preexec_fn=set_up, timeout=300)


def _one_line(stderr: str) -> str:
    """The one line of stderr, asserting there is no traceback and nothing else."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _main(capsys, *argv) -> tuple[int, str]:
    """``xpipe ARGV`` in this process: the exit code and stderr."""
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


# ----------------------------------------------------------------------------- the output folder


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("named_by", ["-o", "recipe"])
def test_an_output_path_that_is_a_file_is_refused_in_one_line(folder, command, named_by):
    taken = folder / "taken.txt"
    taken.write_text("not a folder\n")
    recipe = _recipe(folder, output=taken.name if named_by == "recipe" else "out")
    args = [command, recipe] + (["-o", taken] if named_by == "-o" else []) + (["-q"] if command == "run" else [])
    res = _xpipe(*args)
    assert res.returncode == 2, res.stderr
    line = _one_line(res.stderr)
    assert line == f"xpipe {command}: output folder {taken} is a file, not a folder: choose another -o or move the file"
    assert taken.read_text() == "not a folder\n"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_output_folder_under_a_file_is_refused_in_one_line(folder, command):
    taken = folder / "taken.txt"
    taken.write_text("not a folder\n")
    res = _xpipe(command, folder / "recipe.yaml", "-o", taken / "out", *(["-q"] if command == "run" else []))
    assert res.returncode == 2, res.stderr
    assert f"cannot be made: {taken} is a file, not a folder" in _one_line(res.stderr)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_read_only_output_folder_is_refused_in_one_line(folder, command):
    out = folder / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        res = _xpipe(command, folder / "recipe.yaml", "-o", out, *(["-q"] if command == "run" else []),
                     obey_permissions=True)
    except subprocess.SubprocessError as exc:  # root, and the capabilities cannot be dropped here
        pytest.skip(f"root writes into a folder whatever its permissions, and here it cannot give that up ({exc})")
    finally:
        out.chmod(0o755)
    assert res.returncode == 2, res.stderr
    assert f"output folder {out} is not writable" in _one_line(res.stderr)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_output_folder_that_refuses_a_file_is_refused(folder, command, capsys, monkeypatch):
    out = folder / "out"
    out.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(out / ".xpipe-probe-x"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)  # what a folder of another user does
    code, err = _main(capsys, command, folder / "recipe.yaml", "-o", out, *(["-q"] if command == "run" else []))
    assert code == 2
    assert _one_line(err) == (f"xpipe {command}: output folder {out} is not writable (permission denied): "
                              "choose another -o or fix its permissions")
    assert not (out / "results.h5").exists()


def test_an_output_folder_on_a_read_only_file_system_is_refused(folder, capsys, monkeypatch):
    real = os.statvfs

    def read_only(path):
        st = real(path)
        fields = {name: getattr(st, name) for name in dir(st) if name.startswith("f_")}
        return SimpleNamespace(**{**fields, "f_flag": st.f_flag | os.ST_RDONLY})

    (folder / "out").mkdir()
    monkeypatch.setattr("os.statvfs", read_only)
    code, err = _main(capsys, "run", folder / "recipe.yaml", "-q")
    assert code == 2
    assert _one_line(err) == f"xpipe run: output folder {folder / 'out'} is on a read-only file system: choose another -o"


def test_links_at_the_names_xpipe_writes_leading_out_are_reported(folder, capsys):
    out, elsewhere = folder / "out", folder / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (elsewhere / "notes.md").write_text("not xpipe's\n")
    (out / "summary.md").symlink_to(elsewhere / "notes.md")
    (out / ".xpipe").symlink_to(elsewhere, target_is_directory=True)
    (out / "figures").mkdir()
    (out / "summary.json").symlink_to(out / "figures")  # inside the folder, but a folder
    problems = importlib.import_module("xpipe.outdir").check_output_folder(out)
    assert problems == [
        f"{out / 'summary.md'} is a link to {elsewhere / 'notes.md'}, outside the output folder: remove the "
        "link (xpipe writes only inside its output folder)",
        f"{out / 'summary.json'} is a folder, where xpipe writes a file: choose another -o or move the folder",
        f"{out / '.xpipe'} is a link to {elsewhere}, outside the output folder: remove the link (xpipe "
        "writes only inside its output folder)",
    ]
    code, err = _main(capsys, "validate", folder / "recipe.yaml", "-o", out)
    assert code == 2 and err.splitlines() == [f"xpipe validate: {p}" for p in problems]
    assert (elsewhere / "notes.md").read_text() == "not xpipe's\n"


def test_little_free_space_is_a_warning_not_a_refusal(folder, capsys, caplog, monkeypatch):
    monkeypatch.setattr("shutil.disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9 - 5 * 10**6,
                                                                          free=5 * 10**6))
    code, err = _main(capsys, "validate", folder / "recipe.yaml")
    assert code == 0, err
    assert f"only 5 MB free on the file system of output folder {folder / 'out'}" in caplog.text


# ----------------------------------------------------------------------------- a full disk


@pytest.mark.parametrize(("code", "said"), [(errno.ENOSPC, "no space left on the device"),
                                            (getattr(errno, "EDQUOT", 122), "the disk quota is exceeded"),
                                            (errno.EFBIG, "the file size limit (ulimit -f) was reached")])
def test_a_full_disk_stops_the_run_in_one_line(folder, capsys, monkeypatch, code, said):
    out = folder / "out"
    chunk = out / ".xpipe" / "xrd.patterns" / "chunk_000000.npz"

    def full(self, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(chunk))

    monkeypatch.setattr(xpipe.store.CheckpointStore, "save", full)
    exit_code, err = _main(capsys, "run", folder / "recipe.yaml", "--workers", "1", "-q")
    assert exit_code == 2
    line = _one_line(err)
    assert line.startswith(f"xpipe run: {said} writing {chunk}: "), line
    assert "xpipe run --resume continues" in line


def test_a_file_size_limit_stops_the_run_in_one_line(folder):
    res = _xpipe("run", folder / "recipe.yaml", "--workers", "1", "-q", limit_bytes=2048)
    assert res.returncode == 2, res.stderr
    line = _one_line(res.stderr)
    assert line.startswith("xpipe run: the file size limit (ulimit -f) was reached"), line
    assert "raise the limit" in line


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback_too(folder, capsys, monkeypatch, where):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder / "out" / ".xpipe" / "x.npz"))

    monkeypatch.setattr(xpipe.store.CheckpointStore, "save", full)
    argv = ["run", folder / "recipe.yaml", "--workers", "1", "-q"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    code, err = _main(capsys, *argv)
    assert code == 2
    assert "Traceback (most recent call last)" in err and "OSError: [Errno 28]" in err
    assert err.splitlines()[-1].startswith("xpipe run: no space left on the device writing ")


# ----------------------------------------------------------------------------- other families


def test_an_input_file_error_from_a_reader_is_reported_at_its_key(tmp_path, capsys, monkeypatch):
    if not PONI.is_file():
        pytest.skip(f"{PONI} is not present (the bundled example data)")
    import h5py

    stack = tmp_path / "stack.h5"
    with h5py.File(stack, "w") as h5:
        h5["entry/data/data"] = np.zeros((2, 4, 4), dtype=np.int32)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"name: stack\noutput: out\nxrd:\n  frames:\n    files: stack.h5::/entry/data/data\n"
                      f"    time_source: mtime\n  integrate:\n    poni: {PONI}\n    npt: 100\n")

    def broken(*args, **kwargs):  # what h5py raises for a link whose target is gone
        raise KeyError("Unable to synchronously open object (component not found)")

    monkeypatch.setattr("xpipe.io.frames.hdf5.open_hdf5", broken)
    code, err = _main(capsys, "validate", recipe)
    assert code == 2 and "Traceback" not in err
    # the reader turns h5py's KeyError into its own error, which validate puts at the recipe key
    problems = [ln.strip() for ln in err.splitlines() if "xrd.frames.files:" in ln]
    assert len(problems) == 1 and f"cannot read the HDF5 file '{stack}'" in problems[0], err


def test_a_missing_library_is_one_line(folder, capsys, monkeypatch):
    def missing(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pyopencl'", name="pyopencl")

    monkeypatch.setattr(xpipe.runner, "run", missing)
    code, err = _main(capsys, "run", folder / "recipe.yaml", "-q")
    assert code == 2
    assert _one_line(err) == ("xpipe run: the optional library 'pyopencl' is not installed: install it into "
                              "this Python environment and run again")


def test_an_unexpected_error_is_one_line_with_exit_2(folder, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(xpipe.runner, "run", bug)
    code, err = _main(capsys, "run", folder / "recipe.yaml", "-q")
    assert code == 2
    assert _one_line(err) == ("xpipe run: unexpected error (ZeroDivisionError: division by zero): run again "
                              "with --debug to see where, and report it")


def test_every_known_error_is_found_where_it_is_named():
    """The table that puts xpipe's other errors into their families names classes that exist."""
    errors = importlib.import_module("xpipe.errors")
    for module, name, family, _prefix in errors.KNOWN:
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, Exception), (module, name)
        assert issubclass(family, errors.XpipeError)


# ----------------------------------------------------------------------------- interruptions


class RunInterrupted(KeyboardInterrupt):
    """A stop asked for by a signal, as the runner raises it: the signal, and whether the runner
    has said so already."""

    def __init__(self, signum: int, logged: bool = False) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signal = signal.Signals(signum)
        self.logged = logged


@pytest.mark.parametrize(("stop", "code", "said"), [
    (KeyboardInterrupt(), 130, "xpipe run: interrupted by SIGINT; finished chunks are kept, continue with "
                               "xpipe run --resume"),
    (RunInterrupted(signal.SIGTERM), 143, "xpipe run: interrupted by SIGTERM; finished chunks are kept, "
                                          "continue with xpipe run --resume"),
    (RunInterrupted(signal.SIGTERM, logged=True), 143, None),  # the runner's own line is enough
])
def test_an_interrupted_run_says_so_in_one_line(folder, capsys, monkeypatch, stop, code, said):
    def stopped(*args, **kwargs):
        raise stop

    monkeypatch.setattr(xpipe.runner, "run", stopped)
    exit_code, err = _main(capsys, "run", folder / "recipe.yaml", "-q")
    assert exit_code == code
    if said is None:
        assert err == ""
    else:
        assert _one_line(err) == said
