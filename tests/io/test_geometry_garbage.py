"""A geometry file that is not a PONI file is refused as such, naming what a PONI file holds,
instead of passing for a geometry without a wavelength. The files are bundled example data
copied into ``tmp_path`` under a ``.poni`` name."""

from __future__ import annotations

import shutil

import pytest
from conftest import ROOT, write_recipe

from xpipe.cli import main
from xpipe.io.geometry import read_poni_header

EXAMPLE = ROOT / "example_data"


@pytest.mark.parametrize(
    "source",
    [EXAMPLE / "nvp_operando" / "cycler.csv",    # another format's text
     EXAMPLE / "nvp_xanes" / "nvp_xanes_0.xdi",  # text with 'key: value' lines
     EXAMPLE / "nvp_operando" / "nvp_0002.cbf"],  # binary
    ids=["csv", "xdi", "binary"],
)
def test_a_file_that_is_not_a_poni_is_refused_as_not_a_poni(tmp_path, capsys, source):
    shutil.copy(source, tmp_path / "geometry.poni")
    shutil.copy(EXAMPLE / "nvp_operando" / "nvp_0001.cbf", tmp_path / "nvp_0001.cbf")
    with pytest.raises(ValueError, match=r"^not a PONI file: .*'Distance: \.\.\.'"):
        read_poni_header(tmp_path / "geometry.poni")
    recipe = write_recipe(tmp_path, "name: not a poni\nxrd:\n  frames:\n    files: nvp_0001.cbf\n"
                          "  integrate:\n    poni: geometry.poni\n")
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "xrd.integrate.poni:" in err and "not a PONI file" in err
    assert "wavelength" not in err and "Traceback" not in err
    header = read_poni_header(EXAMPLE / "nvp_operando" / "geometry.poni")  # a PONI file reads
    assert (header.version, header.detector, header.states_orientation) == (2.1, "Pilatus300k", True)
