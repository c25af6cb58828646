"""build_zipapp.py's checks of the pins and of what goes into the archive."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import build_zipapp
from build_zipapp import BuildError, Pins


def write_dist(target: Path, name: str, version: str, *requires: str) -> None:
    info = target / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def pins(direct: list[str], indirect: list[str]) -> Pins:
    return Pins(direct=direct, indirect=indirect, from_source=[], build=[])


def test_closure_accepts_exact_set_with_markers_and_extras(tmp_path: Path) -> None:
    write_dist(tmp_path, "app", "1.0", "lib[fast]>=2", 'old; python_version < "3.11"')
    write_dist(tmp_path, "lib", "2.1", 'speedup; extra == "fast"')
    write_dist(tmp_path, "speedup", "0.3")

    build_zipapp.check_dependency_closure(
        tmp_path, pins(["app==1.0"], ["lib==2.1", "speedup==0.3"])
    )


def test_closure_names_missing_and_unneeded_pins(tmp_path: Path) -> None:
    write_dist(tmp_path, "app", "1.0", "lib>=3")
    write_dist(tmp_path, "lib", "2.1", "helper")
    write_dist(tmp_path, "stale", "1.0")

    with pytest.raises(BuildError) as raised:
        build_zipapp.check_dependency_closure(
            tmp_path, pins(["app==1.0"], ["lib==2.1", "stale==1.0"])
        )

    message = str(raised.value)
    assert "app 1.0 needs lib>=3, but 2.1 is pinned" in message
    assert "lib 2.1 needs helper, which is not pinned" in message
    assert "stale is pinned in pyproject.toml but nothing needs it" in message


def test_read_pins_refuses_ranges(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["trio>=0.35"]\n')

    with pytest.raises(BuildError, match="not an exact pin"):
        build_zipapp.read_pins(pyproject)


def test_read_pins_of_this_project_are_exact() -> None:
    found = build_zipapp.read_pins(build_zipapp.ROOT / "pyproject.toml")

    assert "trio" in {pin.split("==")[0] for pin in found.direct}
    assert found.from_source == ["markupsafe"]


def test_check_pure_python_refuses_extension_modules(tmp_path: Path) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")

    with pytest.raises(BuildError, match="_speedups"):
        build_zipapp.check_pure_python(tmp_path)


def test_collect_package_keeps_every_asset_but_caches(tmp_path: Path) -> None:
    package = tmp_path / "karajo"
    for name in ("__init__.py", "www/app/x.js", "www/doc/index.html", "www/a b.svg"):
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(name)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (package / "www" / ".hidden").write_text("")

    files = build_zipapp.collect_package(package)

    assert sorted(files) == [
        "karajo/__init__.py",
        "karajo/www/a b.svg",
        "karajo/www/app/x.js",
        "karajo/www/doc/index.html",
    ]


def test_write_zipapp_is_sorted_with_fixed_times(tmp_path: Path) -> None:
    output = tmp_path / "app.pyz"

    build_zipapp.write_zipapp(
        {"b/x.py": b"x", "a.py": b"a"}, output, "/usr/bin/python3"
    )

    assert output.read_bytes().startswith(b"#!/usr/bin/python3\n")
    entries = zipfile.ZipFile(output).infolist()
    assert [entry.filename for entry in entries] == ["a.py", "b/", "b/x.py"]
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}
