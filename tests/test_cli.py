"""The command line: the README's demo command and format descriptions."""

import pytest

from ristretto.cli import main


def test_demo_reproduces_table_v_and_ieee_casts(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert out.count(" yes") == 5 and " NO" not in out


def test_formats_describes_a_format(capsys):
    main(["formats", '{"kind": "dfp", "bits": 8, "frac_bits": 5}'])
    assert "slug dfp8f5, 8 bits, range [-4, 3.96875]" in capsys.readouterr().out


def test_formats_reports_a_bad_spec_in_one_line():
    with pytest.raises(SystemExit, match=r"^ristretto formats: Word width \(bits\) must be in \[2, 24\], not 99$"):
        main(["formats", '{"kind": "dfp", "bits": 99, "frac_bits": 5}'])
