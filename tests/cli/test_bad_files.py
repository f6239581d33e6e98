"""Every input file goes through one front door (bnnarch.fsio): a missing
file, a directory, an unreadable, too large or non-UTF-8 file, bad JSON/YAML
and a wrong type at any level end with a message naming the file, exit 2,
no traceback and nothing written. Output paths are checked before any work."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from bnnarch import fsio
from bnnarch.cli import main
from bnnarch.errors import InputError, ModelError, SpecError, WorkloadError

ROOT = Path(__file__).resolve().parents[2]
DESIGN = str(ROOT / "designs" / "xnor32.yaml")
WORKLOAD = str(ROOT / "workloads" / "sfc.json")
NOT_UTF8 = b"name: caf\xe9\nrows: 4\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return rc, cap.out, cap.err


def _files(tmp_path: Path) -> dict[str, Path]:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(NOT_UTF8)
    bad_json = tmp_path / "latin1.json"
    bad_json.write_bytes(b'{"name": "caf\xe9"}')
    bad_csv = tmp_path / "latin1.csv"
    bad_csv.write_bytes(b"Layer name, caf\xe9,\n")
    folder = tmp_path / "folder.json"
    folder.mkdir()
    return {"yaml": bad, "json": bad_json, "csv": bad_csv, "dir": folder}


@pytest.mark.parametrize("case,argv,message", [
    ("design not UTF-8", ["validate", "{yaml}"],
     ("latin1.yaml: 1 error(s)\n  - <root>: the design file is not UTF-8 text (byte 0xe9 at "
     "line 1, offset 9)")),
    ("design is a directory", ["simulate", "{dir}", "-w", WORKLOAD],
     "folder.json: 1 error(s)\n  - <root>: is a directory, not a design file"),
    ("workload is a directory", ["simulate", DESIGN, "-w", "{dir}"],
     "folder.json: is a directory, not a workload file"),
    ("workload not UTF-8", ["simulate", DESIGN, "-w", "{json}"],
     "latin1.json: the workload file is not UTF-8 text (byte 0xe9 at line 1, offset 13)"),
    ("validate --workload not UTF-8", ["validate", DESIGN, "-w", "{json}"],
     "latin1.json: the workload file is not UTF-8 text"),
    ("topology CSV not UTF-8", ["simulate", DESIGN, "-w", "{csv}"],
     "latin1.csv: the topology CSV file is not UTF-8 text (byte 0xe9 at line 1, offset 15)"),
    ("precision map not UTF-8", ["simulate", DESIGN, "-w", WORKLOAD, "-p", "{yaml}"],
     "latin1.yaml: 1 error(s)\n  - <root>: the precision map file is not UTF-8 text"),
    ("precision map is a directory", ["simulate", DESIGN, "-w", WORKLOAD, "-p", "{dir}"],
     "<root>: is a directory, not a precision map file"),
    ("study spec not UTF-8", ["explore", "{yaml}", "--no-run"],
     "latin1.yaml: 1 error(s)\n  - <root>: the study spec file is not UTF-8 text"),
    ("study spec is a directory", ["sweep", "{dir}"],
     "<root>: is a directory, not a study spec file"),
    ("rtl design not UTF-8", ["rtl", "{yaml}", "--out", "{tmp}/rtl"],
     "<root>: the design file is not UTF-8 text"),
    ("rtl workload is a directory", ["rtl", str(ROOT / "designs" / "rtl_8x8.yaml"), "--out",
                                     "{tmp}/rtl", "-w", "{dir}"],
     "folder.json: is a directory, not a workload file"),
    ("fold workload not UTF-8", ["fold", str(ROOT / "designs" / "finn_sfc.yaml"), "-w", "{json}"],
     "the workload file is not UTF-8 text"),
])
def test_unreadable_inputs_exit_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  case: str, argv: list[str], message: str) -> None:
    files = {k: str(v) for k, v in _files(tmp_path).items()} | {"tmp": str(tmp_path)}
    rc, out, err = run(capsys, *[a.format(**files) for a in argv])
    assert rc == 2, case
    assert message in out + err, (out, err)
    assert not (tmp_path / "rtl").exists()


def test_checkpoint_directory_and_not_a_checkpoint(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ck.pt"
    folder.mkdir()
    out = tmp_path / "w.json"
    rc, _, err = run(capsys, "extract", "bireal18", "--checkpoint", str(folder), "--out", str(out))
    assert rc == 2 and "ck.pt: is a directory, not a checkpoint file" in err
    assert not out.exists()
    from bnnarch.nn.checkpoint import load_checkpoint

    with pytest.raises(ModelError, match=r"missing.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_too_large_files_are_refused_before_reading(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # sparse: no disk space used, nothing read
        fh.truncate(fsio.MAX_TEXT_BYTES + 1)
    rc, err, _ = run(capsys, "validate", str(big))  # validate reports on stdout
    assert rc == 2
    assert ("big.yaml: 1 error(s)\n  - <root>: the design file is 67,108,865 bytes, above the "
            "67,108,864-byte limit for design files") in err
    wl = tmp_path / "w.json"
    wl.write_text(json.dumps({"x": "y" * 100}))
    with pytest.raises(WorkloadError, match=r"w.json: the workload file is 109 bytes, above the "
                                            r"100-byte limit for workload files"):
        fsio.read_json(wl, "workload", limit_bytes=100, error=fsio.prefixed(WorkloadError))
    from bnnarch.nn.checkpoint import load_checkpoint

    ck = tmp_path / "huge.pt"
    with open(ck, "wb") as fh:
        fh.truncate(fsio.MAX_CHECKPOINT_BYTES + 1)
    with pytest.raises(ModelError, match=r"huge.pt: the checkpoint file is 1,073,741,825 bytes, "
                                         r"above the 1,073,741,824-byte limit"):
        load_checkpoint(ck)


def test_a_device_that_reports_no_size_is_cut_at_the_limit() -> None:
    with pytest.raises(InputError, match=r"/dev/zero: the design file is more than 1,000 bytes, "
                                         r"above the 1,000-byte limit for design files"):
        fsio.read_text("/dev/zero", "design", limit_bytes=1000)


def test_permission_denied_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Tests run as root (chmod 000 does not stop root), so the denial is
    simulated where fsio opens files."""
    p = tmp_path / "locked.yaml"
    p.write_text("name: x\n")

    def denied(*_: object, **__: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(fsio, "open", denied, raising=False)
    rc, err, _ = run(capsys, "validate", str(p))
    assert rc == 2
    assert "locked.yaml: 1 error(s)\n  - <root>: cannot read the design file: permission denied" \
        in err
    with pytest.raises(WorkloadError, match=r"locked.yaml: cannot read the workload file: "
                                            r"permission denied"):
        fsio.read_text(p, "workload", error=fsio.prefixed(WorkloadError))


def test_fifo_is_not_read(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"pipe.json: is not a regular file \(a workload file "
                                         r"was expected\)"):
        fsio.read_bytes(fifo, "workload")


@pytest.mark.parametrize("text,message", [
    ("template: []\nname: x\n", "template (line 1): unknown template [] (known: array, dataflow)"),
    ("template: {a: 1}\n", "template (line 1): unknown template {'a': 1}"),
    (("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"),
     "<root>: the YAML document expands to more than 100,000 nodes (anchors and aliases?)"),
    ("a: &a [1, *a]\n", "<root>: not valid YAML: a YAML alias refers to itself (recursive anchor)"),
    # libyaml says "exceeded maximum nesting depth", the pure-Python parser recurses
    ("a: " + "[" * 3000 + "]" * 3000 + "\n", "not valid YAML: "),
    ("a: !!timestamp x\n", ("<root>: not valid YAML: a tagged value cannot be built "
     "(AttributeError: ")),
    ("a: !!python/object:os.system {}\n", ("<root> (line 1): not valid YAML: could not determine a "
     "constructor for the tag 'tag:yaml.org,2002:python/object:os.system'")),
])
def test_yaml_shapes_that_used_to_crash_or_hang(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                text: str, message: str) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(text)
    rc, out, _ = run(capsys, "validate", str(p))
    assert rc == 2
    assert message in out, out


def test_json_nan_literal_and_syntax_error_name_the_line(tmp_path: Path) -> None:
    from bnnarch.workload.io import load_workload

    p = tmp_path / "w.json"
    p.write_text('{"format_version": 1,\n "layers": NaN}')
    with pytest.raises(WorkloadError, match=r"w.json: not valid JSON \(NaN is not a JSON number\)"):
        load_workload(p)
    p.write_text('{"format_version": 1,\n "layers": [}')
    with pytest.raises(WorkloadError, match=r"w.json: not valid JSON \(line 2, column 13: "):
        load_workload(p)


@pytest.mark.parametrize("flag,target,message", [
    ("--json", "{dir}", "cannot write --json file {dir}: it is a directory"),
    ("--json", "{file}/r.json", "cannot write --json file {file}/r.json: {file} is not a directory"),
    ("--plot", "{file}/sub/r.png", ("cannot write --plot file {file}/sub/r.png: {file} is not a "
     "directory")),
    ("--reuse-plot", "{dir}", "cannot write --reuse-plot file {dir}: it is a directory"),
])
def test_unwritable_outputs_fail_before_any_work(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 flag: str, target: str, message: str) -> None:
    names = {"dir": str(tmp_path / "adir"), "file": str(tmp_path / "afile")}
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("keep\n")
    rc, out, err = run(capsys, "simulate", DESIGN, "-w", WORKLOAD, flag, target.format(**names))
    assert rc == 2
    assert f"error: {message.format(**names)}" in err
    assert out == ""  # nothing simulated, nothing printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]
    assert list((tmp_path / "adir").iterdir()) == []
    assert (tmp_path / "afile").read_text() == "keep\n"


def test_unwritable_output_dirs_and_files_of_other_commands(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc, _out, err = run(capsys, "rtl", str(ROOT / "designs" / "rtl_8x8.yaml"), "--out", str(afile))
    assert rc == 2 and f"cannot write --out directory {afile}: it exists and is not a directory" \
        in err
    rc, _, err = run(capsys, "fold", str(ROOT / "designs" / "finn_sfc.yaml"), "-w", WORKLOAD,
                     "--json", str(afile / "f.json"))
    assert rc == 2 and f"cannot write --json file {afile / 'f.json'}: {afile} is not a directory" \
        in err
    rc, _, err = run(capsys, "workloads", "--out", str(afile / "sub"))
    assert rc == 2 and f"{afile} is not a directory" in err
    rc, _, err = run(capsys, "explore", str(ROOT / "explore" / "ci_tiny.yaml"), "--no-run",
                     "--out", str(afile))
    assert rc == 2 and f"cannot write --out directory {afile}: it exists and is not a directory" \
        in err
    rc, _, err = run(capsys, "explore", str(ROOT / "explore" / "ci_tiny.yaml"), "--no-run",
                     "--json", str(afile / "s.json"))
    assert rc == 2 and f"cannot write --json file {afile / 's.json'}: {afile} is not a directory" \
        in err
    rc, _, err = run(capsys, "import", str(tmp_path / "m.onnx"), "--out", str(afile / "w.json"))
    assert rc == 2 and f"cannot write --out file {afile / 'w.json'}: {afile} is not a directory" \
        in err
    rc, _, err = run(capsys, "extract", "bireal18", "--small", "--out", str(tmp_path))
    assert rc == 2 and f"cannot write --out file {tmp_path}: it is a directory" in err
    assert afile.read_text() == "x"


def test_check_writable_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root may write anywhere: the permission answer is simulated."""
    monkeypatch.setattr(fsio.os, "access", lambda *_: False)
    with pytest.raises(InputError, match=r"cannot write --json file .*r.json: permission denied"):
        (tmp_path / "r.json").write_text("{}")
        fsio.check_writable(tmp_path / "r.json", "--json file")
    with pytest.raises(InputError, match=r"cannot write out .*new.json: .* is not writable"):
        fsio.check_writable(tmp_path / "sub" / "new.json", "out")


def test_atomic_write_under_a_file_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    from bnnarch.errors import BnnarchError

    with pytest.raises(BnnarchError, match=r"cannot write file .*f/o.json: .*/f is not a directory"):
        fsio.atomic_write_text(tmp_path / "f" / "o.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_spec_error_factory() -> None:
    e = fsio.spec_error("x.yaml", "no such design file")
    assert isinstance(e, SpecError) and str(e) == "x.yaml: 1 error(s)\n  - <root>: no such design file"


def test_deep_nesting_with_the_pure_python_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from bnnarch.spec import yamlsrc

    monkeypatch.setattr(fsio, "_LineLoader", yaml.SafeLoader)
    with pytest.raises(SpecError, match=r"x.yaml: 1 error\(s\)\n  - <root>: not valid YAML: "
                                        r"nested too deeply"):
        yamlsrc.parse_yaml_with_lines("a: " + "[" * 3000 + "]" * 3000, "x.yaml")


def test_reuse_plot_without_reuse_fails_before_writing_json(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    out = tmp_path / "r.json"
    rc, stdout, err = run(capsys, "simulate", DESIGN, "-w", WORKLOAD, "--json", str(out),
                          "--reuse-plot", str(tmp_path / "r.png"))
    assert rc == 2
    assert ("error: --reuse-plot: the design enables no reuse scheme (set "
            "reuse.kernel_pattern / reuse.input_similarity enabled: true)") in err
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_study_file_fields_that_are_directories(tmp_path: Path) -> None:
    from bnnarch.dse import parse_study

    text = (f"name: s\ndesign: {ROOT / 'designs' / 'edge16_ws.yaml'}\nworkload: {WORKLOAD}\n"
            f"checkpoint: {tmp_path}\nhardware:\n  array.rows: [8, 16]\n"
            "objectives: [latency]\nsampler: grid\n")
    with pytest.raises(SpecError) as ei:
        parse_study(text, str(tmp_path / "s.yaml"), sweep=True)
    assert [str(e) for e in ei.value.errors] == [
        f"checkpoint (line 4): is a directory, not a file: {tmp_path}"]


def test_an_interrupted_write_leaves_no_file(tmp_path: Path) -> None:
    def half(tmp: Path) -> None:
        tmp.write_text('{"layers": [')
        raise KeyboardInterrupt

    (tmp_path / "r.json").write_text('{"old": 1}\n')
    with pytest.raises(KeyboardInterrupt):
        fsio.atomic_write(tmp_path / "r.json", half)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert (tmp_path / "r.json").read_text() == '{"old": 1}\n'  # the old file, whole


def test_other_read_errors_and_deep_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "w.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"w.json: not valid JSON \(nested too deeply\)"):
        fsio.read_json(p, "workload")

    def io_error(*_: object, **__: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fsio, "open", io_error, raising=False)
    with pytest.raises(InputError, match=r"w.json: cannot read the workload file: "
                                         r"Input/output error"):
        fsio.read_bytes(p, "workload")


def test_parse_yaml_with_another_error_class_names_the_line() -> None:
    with pytest.raises(WorkloadError, match=r"^p.yaml: not valid YAML: did not find expected node "
                                             r"content \(line 3\)$"):
        fsio.parse_yaml("a: 1\nb: [\n", "p.yaml", error=fsio.prefixed(WorkloadError))


def test_layer_groups_of_another_type_from_the_python_api() -> None:
    from bnnarch.workload.layer import Layer, check_layer

    la = Layer(name="c", op="conv2d", inputs=("input",), in_shape=(8, 8, 8),
               out_shape=(8, 8, 8), kernel=(3, 3), padding=(1, 1), groups=2.0)  # type: ignore[arg-type]
    assert check_layer(la) == ["groups must be an integer, got 2.0"]
