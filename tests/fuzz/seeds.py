"""The seeds of the fuzz suite: good input files, grouped in families, and the mutant plan.

A family is a set of seeds from one place (the bundled example data, one folder of the real-data
corpus, generated 1D patterns, the shipped recipes). Every seed names the reader that reads it
(see ``targets.py``). :func:`plan` spreads a number of mutants over a family's seeds and
mutation kinds the same way every time: the first mutants of the long run are the CI mutants.

Examples
--------
>>> fam = family("poni")
>>> [s.name for s in fam.seeds()], fam.seeds()[0].target
(['geometry.poni'], 'poni')
>>> [m.id for m in plan(fam, 2)]
['poni:geometry.poni:zeros:0', 'poni:geometry.poni:ones:0']
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mutate import BASE_SEED, FILE_KINDS, RECIPE_KINDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_data"
SHARED = ROOT.parent / "shared" / "data"
CORPUS = SHARED / "corpus"
RECIPES = ROOT / "recipes"


@dataclass(frozen=True)
class Seed:
    """One good input: where its bytes come from and which reader takes it.

    ``name`` is its path relative to the family's folder; ``dataset`` the HDF5 dataset a
    frame entry names (``file::dataset``); ``options`` extra keyword arguments of the reader.
    A generated seed has ``make`` (bytes) instead of a ``path``.
    """

    family: str
    name: str
    target: str
    path: Path | None = None
    dataset: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    make: Callable[[], bytes] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.family}/{self.name}"

    def data(self) -> bytes:
        """The seed's bytes (recipes: with their paths made absolute)."""
        if self.make is not None:
            return self.make()
        return self.path.read_bytes()


@dataclass(frozen=True)
class Mutant:
    """One planned mutant: the seed, the mutation and its number."""

    seed: Seed
    kind: str
    index: int

    @property
    def id(self) -> str:
        return f"{self.seed.family}:{self.seed.name}:{self.kind}:{self.index}"


@dataclass(frozen=True)
class Family:
    """A named group of seeds; ``absent`` says why it has none (data not present)."""

    name: str
    collect: Callable[[], list[Seed]]
    folder: Path | None = None
    kinds: tuple[str, ...] = FILE_KINDS

    def seeds(self) -> list[Seed]:
        return self.collect() if self.folder is None or self.folder.is_dir() else []

    @property
    def absent(self) -> str:
        return (f"{self.folder} is not present (real measured data is not shipped with the "
                "repository)")


def _files(family: str, folder: Path, pattern: str, target: str | Callable[[Path], str | None],
           datasets: dict[str, str] | None = None, **options: str) -> list[Seed]:
    out = []
    for p in sorted(folder.glob(pattern)):
        if not p.is_file() or p.name in ("LICENSE", "README.md", "truth.json"):
            continue
        t = target(p) if callable(target) else target
        if t is not None:
            out.append(Seed(family, p.relative_to(folder).as_posix(), t, p,
                            (datasets or {}).get(p.name), tuple(sorted(options.items()))))
    return out


# ---------------------------------------------------------------- generated 1D patterns

def _pattern_rows(n: int = 600, sigma: bool = True, x_scale: float = 1.0) -> list[str]:
    x = np.linspace(5.0, 35.0, n)
    y = 50 + 400 * np.exp(-0.5 * ((x - 12.3) / 0.08) ** 2) + 250 * np.exp(-0.5 * ((x - 20.1) / 0.1) ** 2)
    y = np.round(y + 3 * np.sin(7 * x), 3)
    if x_scale != 1.0:
        return [f"{a * x_scale:.2f} {b:.3f} {np.sqrt(b):.4f}" for a, b in zip(x, y)]
    if sigma:
        return [f"{a:.5f} {b:.3f} {np.sqrt(b):.4f}" for a, b in zip(x, y)]
    return [f"{a:.5f} {b:.3f}" for a, b in zip(x, y)]


def _generated_patterns() -> list[Seed]:
    rows3, rows2 = _pattern_rows(), _pattern_rows(sigma=False)
    texts = {
        "pattern.xye": "\n".join(rows3),
        "pattern.xy": "# 2025-07-02T19:05:59 exposure 30 s\n# 2th_deg I\n" + "\n".join(rows2),
        "pattern.dat": ("# == pyFAI calibration ==\n# Distance Sample to Detector: 0.2 m\n"
                        "# Wavelength: 7.749e-11 m\n#  2th_deg             I\n" + "\n".join(rows2)),
        "pattern.csv": "2theta,counts\n" + "\n".join(r.replace(" ", ",") for r in rows2),
        "pattern.txt": "sample: NVP\n" + "\n".join(r.replace(" ", "\t") for r in rows3),
        "pattern.chi": (f"scan 1\n2-Theta Angle (Degrees)\nIntensity\n{len(rows2):8d}\n"
                        + "\n".join(rows2)),
        "pattern.fxye": (f"NVP demo\nBANK 1 {len(rows3)} {len(rows3)} CONS 500.00 5.0083 0 0 FXYE\n"
                         + "\n".join(_pattern_rows(x_scale=100.0))),
    }
    return [Seed("patterns", name, "pattern", make=lambda t=text: (t + "\n").encode())
            for name, text in texts.items()]


# ---------------------------------------------------------------- recipes

_PATHISH = re.compile(r"(?<=[\s:\[{,])(?P<q>['\"]?)(?P<p>\.{1,2}/[^\s,\]}'\"#]*|[\w.-]+/[^\s,\]}'\"#]+)(?P=q)")


def absolute_recipe(path: Path) -> str:
    """A shipped recipe's text with every relative path made absolute (against its folder).

    Examples
    --------
    >>> text = absolute_recipe(RECIPES / "nvp_xps.yaml")
    >>> "../example_data" in text, str(EXAMPLE / "nvp_xps") in text
    (False, True)
    """
    folder = path.parent

    def fix(m: re.Match[str]) -> str:
        p = m.group("p")
        above = (folder / p.split("*")[0]).parent  # a glob's folder
        if p.startswith(("./", "../")) or (folder / p).exists() or (above != folder and above.exists()):
            return m.group("q") + str((folder / p).resolve()) + m.group("q")
        return m.group(0)

    return "\n".join(line if line.lstrip().startswith("#") else _PATHISH.sub(fix, line)
                     for line in path.read_text().splitlines()) + "\n"


def _recipes() -> list[Seed]:
    return [Seed("recipes", p.name, "recipe", p, make=lambda p=p: absolute_recipe(p).encode())
            for p in sorted(RECIPES.glob("*.yaml"))]


# ---------------------------------------------------------------- the families

_HDF5_FRAMES = {  # files whose frames sit where no NeXus attribute points: the recipe names them
    "demoh5_dataset.h5": "/1.1/instrument/marana/data",
    "ma4500_demoh5.h5": "/demoh5_dataset_1.1/instrument/marana/data",
    **{f"testasapo1_1009_00002_m{m}_part0000{k}.nxs": "/entry/instrument/detector/data"
       for m in (1, 2, 3) for k in range(5)},
}


def _corpus_frames(p: Path) -> str | None:
    return "poni" if p.suffix == ".poni" else "frames"


def _xrd_extra(p: Path) -> str | None:
    return {".poni": "poni", ".tif": "frames", ".xy": "pattern", ".xye": "pattern"}.get(p.suffix)


FAMILIES: tuple[Family, ...] = (
    Family("frames-cbf", lambda: _files("frames-cbf", EXAMPLE / "nvp_operando", "*.cbf", "frames")),
    Family("poni", lambda: _files("poni", EXAMPLE / "nvp_operando", "*.poni", "poni")),
    Family("cycler-csv", lambda: _files("cycler-csv", EXAMPLE / "nvp_operando", "cycler.csv", "cycler")),
    Family("xas-xdi", lambda: _files("xas-xdi", EXAMPLE / "nvp_xanes", "**/*.xdi", "scan")),
    Family("xps-vamas", lambda: _files("xps-vamas", EXAMPLE / "nvp_xps", "*.vms", "xps")),
    Family("patterns", _generated_patterns),
    Family("corpus-frames", lambda: _files("corpus-frames", CORPUS / "frames" / "dioptas_nexus", "**/*",
                                           _corpus_frames, _HDF5_FRAMES),
           CORPUS / "frames" / "dioptas_nexus"),
    Family("corpus-echem", lambda: _files("corpus-echem", CORPUS / "echem" / "biologic_eclab", "*", "cycler"),
           CORPUS / "echem" / "biologic_eclab"),
    Family("corpus-xas-larch", lambda: _files("corpus-xas-larch", CORPUS / "xas" / "larch_xafsdata", "**/*",
                                              "scan"),
           CORPUS / "xas" / "larch_xafsdata"),
    Family("corpus-xas-xdi", lambda: _files("corpus-xas-xdi", CORPUS / "xas" / "xdi_conformance", "**/*.xdi",
                                            "scan"),
           CORPUS / "xas" / "xdi_conformance"),
    Family("corpus-xps", lambda: _files("corpus-xps", CORPUS / "xps" / "pynxtools_xps", "**/*", "xps"),
           CORPUS / "xps" / "pynxtools_xps"),
    # beside the corpus: the real 1D patterns and the cycler formats the corpus lacks
    Family("shared-xrd", lambda: (_files("shared-xrd", SHARED / "xrd", "**/*", _xrd_extra)
                                  + _files("shared-xrd", SHARED / "xrd", "peakshift_series_q/*.dat",
                                           "pattern", unit="q_A^-1")),
           SHARED / "xrd"),
    Family("shared-echem", lambda: _files("shared-echem", SHARED / "echem", "**/*.nd*", "cycler")
           + _files("shared-echem", SHARED / "echem", "**/*.res", "cycler"),
           SHARED / "echem"),
    Family("recipes", _recipes, kinds=RECIPE_KINDS),
)


def family(name: str) -> Family:
    """The family called ``name``."""
    return next(f for f in FAMILIES if f.name == name)


def plan(fam: Family, n: int, seeds: list[Seed] | None = None) -> list[Mutant]:
    """The first ``n`` mutants of a family.

    Every (seed, kind) pair comes once, in an order drawn from the family's name, before any
    pair comes a second time (with the next index).

    Parameters
    ----------
    fam : Family
    n : int
        How many mutants.
    seeds : list of Seed, optional
        The family's seeds (default: ``fam.seeds()``).

    Returns
    -------
    list of Mutant
    """
    seeds = fam.seeds() if seeds is None else seeds
    if not seeds:
        return []
    pairs = [(s, k) for s in seeds for k in fam.kinds]
    order = np.random.default_rng([BASE_SEED, zlib.crc32(fam.name.encode())]).permutation(len(pairs))
    return [Mutant(*pairs[order[j % len(pairs)]], j // len(pairs)) for j in range(n)]


def find_mutant(mutant_id: str) -> Mutant:
    """The mutant an id names (``family:seed name:kind:index``), for reproducing one case."""
    fam_name, rest = mutant_id.split(":", 1)
    name, kind, index = rest.rsplit(":", 2)
    seed = next((s for s in family(fam_name).seeds() if s.name == name), None)
    if seed is None:
        raise SystemExit(f"no seed {name!r} in family {fam_name!r} (is its data present?)")
    return Mutant(seed, kind, int(index))
