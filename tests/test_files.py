"""Atomic writes, output folders and JSON reading."""

import pytest

from ristretto.errors import InputError
from ristretto.files import atomic_path, check_out_dir, read_json, write_json, write_text


def test_atomic_path_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "report.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left behind


def test_writes_replace_whole_files(tmp_path):
    write_json(tmp_path / "a" / "b.json", {"x": 1})
    assert read_json(tmp_path / "a" / "b.json", "test") == {"x": 1}


def test_check_out_dir(tmp_path):
    assert check_out_dir(tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match=r"^--out '.*f' is a file, not a folder; give a folder path$"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(InputError, match=r"^--out '.*f/x' is not writable \(.*\); choose a folder you can write to$"):
        check_out_dir(tmp_path / "f" / "x")


@pytest.mark.parametrize(("text", "message"), [
    ("", r"is empty; it must hold a JSON object"), ("{", r"is not valid JSON: Expecting property name"),
    ("[1,", r"is not valid JSON"), (b"\xff\xfe", r"cannot be read as UTF-8")])
def test_read_json_names_the_file(tmp_path, text, message):
    path = tmp_path / "c.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(InputError, match=rf"^config file '.*c.json' {message}"):
        read_json(path, "config")
