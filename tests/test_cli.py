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


def test_hw_generate_and_fast_verify(tmp_path, capsys):
    assert main(["hw", "generate", "shift8w4", "--out", str(tmp_path)]) == 0
    stem = "mac_shift_dfp8f4_pow4em8em1nz_dfp8f4_acc32w_st0"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}.json", f"{stem}.svg", f"{stem}.v",
                                                          f"{stem}.wave.json"]
    assert main(["hw", "verify", "minifloat8", "--fast", "--random", "300"]) == 0
    out = capsys.readouterr().out
    assert "Amaranth simulator: 300 vectors checked" in out and "PASS" in out


def test_hw_generate_stream_from_flags_and_again_from_its_manifest(tmp_path, capsys):
    assert main(["hw", "generate", "minifloat8", "--interface", "stream", "--reset", "async-low", "--lanes", "4",
                 "--out", str(tmp_path / "a")]) == 0
    (manifest,) = (tmp_path / "a").glob("*stream_asynclow.json")
    assert main(["hw", "generate", str(manifest), "--out", str(tmp_path / "b"), "--no-diagram"]) == 0
    v = manifest.with_suffix(".v")
    assert (tmp_path / "b" / v.name).read_bytes() == v.read_bytes()
    with pytest.raises(SystemExit, match=r"^ristretto hw verify: --amaranth checks the bare unit"):
        main(["hw", "verify", "fixed8", "--interface", "stream", "--amaranth"])


def test_hw_verify_reports_bad_requests_in_one_line():
    with pytest.raises(SystemExit, match=r"^ristretto hw verify: No vectors to simulate: keep the exhaustive"):
        main(["hw", "verify", "fixed8", "--fast", "--random", "0"])
    with pytest.raises(SystemExit, match=r"^ristretto hw generate: MAC spec must be a preset"):
        main(["hw", "generate", "fixed7", "--out", "x"])


def test_hw_verify_prints_the_first_mismatch(monkeypatch, capsys):
    from hw_helpers import truncating_requantizer

    truncating_requantizer(monkeypatch)
    assert main(["hw", "verify", "fixed8", "--fast", "--random", "400"]) == 1
    out = capsys.readouterr().out
    assert "FAIL:" in out and "first at vector" in out and "out expected" in out


def test_formats_describes_named_and_mx_formats(capsys):
    from ristretto.formats import MXFormat, named

    main(["formats", __import__("json").dumps(MXFormat(named("float4_e2m1fn")).to_dict())])
    out = capsys.readouterr().out
    assert "blocks of 32 mf4e2m1s elements (4 bits, largest 6, emax 2) sharing one E8M0 scale" in out
    main(["formats", '{"kind": "e8m0"}'])
    assert "slug e8m0, 8 bits" in capsys.readouterr().out
