"""Writes stay inside the output folder: a link planted there is replaced, never written
through, and a folder in it that leads elsewhere is refused with its name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import pytest

import xpipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def _outside(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "elsewhere" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"not xpipe's: {name}\n")
    return path


def _link(outdir: Path, name: str, target: Path) -> None:
    path = outdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _untouched(tmp_path: Path) -> dict[str, str]:
    return {p.name: p.read_bytes() for p in (tmp_path / "elsewhere").iterdir()}


def test_planted_file_links_are_replaced_not_written_through(tmp_path):
    out = tmp_path / "out"
    planted = {
        "results.h5": "results",
        ".results.h5.partial": "partial",  # the temporary name of earlier versions
        ".xpipe/writer.lock": "lock",
        ".xpipe/file_hashes.json": "hashes",
        ".xpipe/xps/cache.h5": "cache_h5",
        ".xpipe/xps/cache.tmp": "cache_tmp",
        ".xpipe/xps/cache.json": "cache_json",
        ".xpipe/xps/cache_state.npz": "cache_state",
    }
    for name, target in planted.items():
        _link(out, name, _outside(tmp_path, target))
    before = _untouched(tmp_path)
    for _ in range(2):  # written, then replayed from the cache and written again
        xpipe.run(RECIPES / "nvp_xps.yaml", out, workers=1)
        assert _untouched(tmp_path) == before
    assert not (out / "results.h5").is_symlink()
    with h5py.File(out / "results.h5", "r") as h5:
        assert "xps" in h5["entry"]


def test_a_planted_summary_link_is_replaced(tmp_path):
    out = tmp_path / "out"
    _link(out, "summary.md", _outside(tmp_path, "notes.md"))
    before = _untouched(tmp_path)
    xpipe.run(RECIPES / "nvp_xps.yaml", out, workers=1)
    assert _untouched(tmp_path) == before
    assert not (out / "summary.md").is_symlink() and (out / "summary.md").read_text().startswith("#")


def test_planted_table_figure_and_export_links_are_replaced(tmp_path):
    recipe = tmp_path / "nvp_operando.yaml"  # the shipped recipe, runnable from anywhere
    recipe.write_text((RECIPES / "nvp_operando.yaml").read_text().replace("../", f"{ROOT}/"))
    out = tmp_path / "out"
    planted = {
        "xrd_frames.csv": "frames.csv",
        "xrd_peaks.csv": "peaks.csv",
        "figures/xrd_contour.png": "contour.png",
        "xye/nvp_0001.xye": "first.xye",
    }
    for name, target in planted.items():
        _link(out, name, _outside(tmp_path, target))
    before = _untouched(tmp_path)
    xpipe.run(recipe, out, workers=1)
    assert _untouched(tmp_path) == before
    for name in planted:
        assert not (out / name).is_symlink(), name
    assert (out / "xrd_frames.csv").read_text().startswith("frame_index,")
    assert (out / "figures" / "xrd_contour.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "xye" / "nvp_0001.xye").read_text().startswith("# xpipe")
    leftovers = [p.name for p in out.rglob(".*.tmp*")]
    assert not leftovers, leftovers


@pytest.mark.parametrize("folder", [".xpipe", ".xpipe/xps"])
def test_a_folder_linked_outside_is_refused_with_its_name(tmp_path, folder):
    out = tmp_path / "out"
    keep = _outside(tmp_path, "keep.txt")
    (out / folder).parent.mkdir(parents=True, exist_ok=True)
    (out / folder).symlink_to(keep.parent, target_is_directory=True)
    res = subprocess.run([sys.executable, "-m", "xpipe", "run", str(RECIPES / "nvp_xps.yaml"), "-o", str(out), "-q"],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert f"{out / folder} is a link to" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert sorted(p.name for p in keep.parent.iterdir()) == ["keep.txt"]


def test_a_checkpoint_folder_linked_outside_is_never_emptied(tmp_path):
    out = tmp_path / "out"
    from xpipe.store import UnsafeOutputPath

    precious = _outside(tmp_path, "chunk_000000.npz")
    _link(out, ".xpipe/xas", precious.parent)
    with pytest.raises(UnsafeOutputPath, match=r"\.xpipe/xas is a link to"):
        xpipe.run(RECIPES / "nvp_xanes.yaml", out, workers=1)
    assert precious.read_text() == "not xpipe's: chunk_000000.npz\n"


def test_the_write_helpers_stay_inside_the_output_folder(tmp_path):
    from xpipe.store import UnsafeOutputPath, atomic_write_text, safe_target

    out = tmp_path / "out"
    notes = _outside(tmp_path, "notes.md")
    _link(out, "summary.md", notes)
    atomic_write_text(out / "summary.md", "# Summary\n", outdir=out)
    assert (out / "summary.md").read_text() == "# Summary\n" and notes.read_text() == "not xpipe's: notes.md\n"
    _link(out, "figures", notes.parent)
    for name in ("figures/contour.png", "../out2/x.csv", "/etc/x.csv"):
        with pytest.raises(UnsafeOutputPath):
            safe_target(out, name)
    assert safe_target(out, "tables/a.csv") == out / "tables" / "a.csv"
