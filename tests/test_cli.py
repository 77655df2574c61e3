"""The ``strata`` command: decompose, compose and info, driven through ``strata.cli.main``.

Bad inputs must give one ``strata: error:`` line on stderr, a non-zero exit, no traceback, and leave
nothing half-written in the output folder. Two cases run the installed ``strata`` script in a
subprocess to prove that holds for the real entry point too.
"""

import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared_data import POSTERS
from strata.cli import main
from strata.exporters.readers import read_stack
from strata.layers import LayerStack

POSTER = POSTERS / "qwen-demo-1.png"
STRATA = Path(sys.executable).with_name("strata")
ALL_FORMATS = "png,webp,tiff,psd,zip,ora,pptx"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``strata args...`` in this process; returns (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, match: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("strata: error:"), err
    assert match.lower() in lines[0].lower(), err


def entries(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden files included, recursively."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def png_bomb(width: int = 50000, height: int = 50000) -> bytes:
    """A real decompression bomb: a valid 1-bit PNG of width x height zeros, about 300 KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, zeros, left = zlib.compressobj(9), bytes(1 << 20), (width // 8 + 1) * height
    parts = []
    while left > 0:
        parts.append(packer.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """A small real picture in PNG and JPEG, and one file for each kind of bad input."""
    folder = tmp_path_factory.mktemp("inputs")
    picture = Image.open(POSTER).convert("RGB").crop((400, 300, 640, 480))
    encoded = {}
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        picture.save(buffer, fmt)
        encoded[fmt] = buffer.getvalue()
    files = {
        "poster.png": encoded["PNG"],
        "photo.jpg": encoded["JPEG"],
        "notes.png": b"these are notes, not pixels\n",
        "empty.png": b"",
        "cut.png": encoded["PNG"][: len(encoded["PNG"]) // 2],
        "cut.jpg": encoded["JPEG"][: len(encoded["JPEG"]) // 2],
        "bomb.png": png_bomb(),
        "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


# --- bad input: one line, non-zero exit, nothing half-written --------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("notes.png", "not an image"),
        ("empty.png", "empty"),
        ("cut.png", "truncated"),
        ("cut.jpg", "truncated"),
        ("bomb.png", "than the limit"),
        ("drawing.svg", "unsupported"),
        ("missing.png", "no such file"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(capsys, images, tmp_path, name, message):
    source = images["poster.png"].with_name(name)
    code, _out, err = run(
        capsys, "decompose", source, "-n", "3", "--format", ALL_FORMATS, "--out", tmp_path / "out"
    )
    assert_one_line_error(code, err, message)
    assert name in err
    assert entries(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "1"], "layers must be between"),
        (["-n", "99"], "layers must be between"),
        (["--format", "png,gif"], "unknown format 'gif'"),
        (["--format", ","], "no output format"),
        (["--engine", "nonesuch"], "unknown engine"),
        (["--option", "steps=3"], "does not support the option 'steps'"),
        (["--option", "steps"], "--option wants KEY=VALUE"),
        (["--model-path", "somewhere"], "--model-path is a setting of the qwen engine"),
    ],
)
def test_bad_request_is_refused_before_anything_runs(capsys, images, tmp_path, args, message):
    code, _, err = run(capsys, "decompose", images["poster.png"], *args, "--out", tmp_path / "out")
    assert_one_line_error(code, err, message)
    assert not (tmp_path / "out").exists()


def test_engine_options_are_json_when_they_parse_else_text():
    from strata.cli.decompose import parse_engine_options

    parsed = parse_engine_options(["steps=20", "cfg_scale=4.5", "prompt=a red poster", "lora=[]", "x=a=b"])
    assert parsed == {"steps": 20, "cfg_scale": 4.5, "prompt": "a red poster", "lora": [], "x": "a=b"}


def test_unwritable_output_folder_is_refused(capsys, images, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, "decompose", images["poster.png"], "--out", blocker / "out")
    assert_one_line_error(code, err, "not writable")
    assert blocker.read_text() == "not a folder"


def test_two_inputs_with_one_output_folder_are_refused(capsys, images, tmp_path):
    other = tmp_path / "poster.jpg"
    other.write_bytes(images["photo.jpg"].read_bytes())
    code, _, err = run(capsys, "decompose", images["poster.png"], other, "--out", tmp_path / "out")
    assert_one_line_error(code, err, "would both write")


def test_webp_quality_out_of_range_is_a_usage_error(capsys, images, tmp_path):
    code, _, err = run(capsys, "decompose", images["poster.png"], "--webp-quality", "101", "--out", tmp_path)
    assert code == 2 and "Traceback" not in err and "--webp-quality" in err


def test_failure_while_writing_leaves_no_partial_folder(capsys, images, tmp_path, monkeypatch):
    calls = []
    original = Path.write_bytes

    def failing_write(self, data):
        calls.append(self)
        if len(calls) == 3:  # the disk fills up after two files
            raise OSError(28, "No space left on device")
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    code, _, err = run(
        capsys, "decompose", images["poster.png"], "-n", "3", "--format", "png,tiff", "--out", tmp_path
    )
    assert_one_line_error(code, err, "no space left")
    assert len(calls) == 3
    assert entries(tmp_path) == []


# --- several inputs ---------------------------------------------------------------------------------


def test_one_bad_input_among_several_does_not_stop_the_others(capsys, images, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys,
        "decompose",
        images["poster.png"],
        images["cut.png"],
        images["photo.jpg"],
        "-n",
        "3",
        "--out",
        out,
        "--json",
    )
    assert code == 1
    assert "Traceback" not in err and err.count("strata: error:") == 1 and "cut.png" in err
    summary = json.loads(stdout)
    assert summary["ok"] is False
    assert [r["error"] is None for r in summary["results"]] == [True, False, True]
    assert summary["results"][1]["error"]["code"] == "invalidImage"
    assert entries(out) == sorted(
        ["photo", "poster"] + [f"{stem}/layer_{i:02d}.png" for stem in ("photo", "poster") for i in range(3)]
    )


def test_an_engine_bug_on_one_input_is_one_line_and_the_others_still_run(
    capsys, images, tmp_path, monkeypatch
):
    from strata.engines.classic import ClassicEngine

    real, calls = ClassicEngine.decompose, []

    def buggy(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the first input
            raise IndexError("index 7 is out of bounds")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ClassicEngine, "decompose", buggy)
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "decompose", images["photo.jpg"], images["poster.png"], "-n", "3", "--out", out
    )
    assert code == 1
    assert "Traceback" not in err and err.count("strata: error:") == 1
    assert "photo.jpg" in err and "internal error (IndexError: index 7 is out of bounds)" in err
    assert entries(out) == ["poster"] + [f"poster/layer_{i:02d}.png" for i in range(3)]


def test_a_bug_outside_the_engine_is_one_line_unless_debugging(capsys, images, tmp_path, monkeypatch):
    from strata.cli import info

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(info, "collect", broken)
    code, _, err = run(capsys, "info")
    assert_one_line_error(code, err, "internal error (RuntimeError: unexpected)")
    monkeypatch.setenv("STRATA_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["info"])


def test_folder_inputs_expand_to_their_images_sorted(capsys, images, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("b.png", "a.jpg"):
        (folder / name).write_bytes(
            images["poster.png" if name.endswith("png") else "photo.jpg"].read_bytes()
        )
    (folder / "readme.txt").write_text("ignored")
    code, stdout, _ = run(
        capsys, "decompose", folder, "-n", "2", "--out", tmp_path / "out", "--json", "--quiet"
    )
    assert code == 0
    assert [Path(r["input"]).name for r in json.loads(stdout)["results"]] == ["a.jpg", "b.png"]


def test_a_folder_without_images_is_that_inputs_error(capsys, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("no pictures here")
    code, _, err = run(capsys, "decompose", tmp_path / "in", "--out", tmp_path / "out")
    assert_one_line_error(code, err, "no images")
    assert entries(tmp_path / "out") == []


def test_jobs_run_inputs_in_worker_processes_with_the_same_outputs(capsys, images, tmp_path):
    inputs = [images["poster.png"], images["cut.png"], images["photo.jpg"]]
    args = ["-n", "3", "-f", "png,tiff", "--json", "--quiet"]
    one = run(capsys, "decompose", *inputs, *args, "--out", tmp_path / "one")
    two = run(capsys, "decompose", *inputs, *args, "--out", tmp_path / "two", "--jobs", "2")
    for (code, stdout, err), workers in ((one, 1), (two, 2)):
        assert code == 1
        assert err.count("strata: error:") == 1 and "cut.png" in err and "Traceback" not in err
        report = json.loads(stdout)
        assert report["workers"] == workers
        assert [r["error"] is None for r in report["results"]] == [True, False, True]
    assert entries(tmp_path / "one") == entries(tmp_path / "two")
    for name in entries(tmp_path / "one"):
        if (tmp_path / "one" / name).is_file():
            assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def _spawned_workers(parent: int) -> list[int]:
    """The pool's worker processes under ``parent`` (not its resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc")
def test_a_killed_worker_loses_no_input(images, tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for copy in range(3):
        (folder / f"poster-{copy}.png").write_bytes(images["poster.png"].read_bytes())
    command = [STRATA, "decompose", folder, "-j", "2", "-n", "3", "-o", out, "--json", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(workers := _spawned_workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(workers) == 2, "the two worker processes never started"
        os.kill(workers[0], signal.SIGKILL)
        stdout, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert all(r["error"] is None for r in json.loads(stdout)["results"])
    expected = [f"poster-{c}/layer_{i:02d}.png" for c in range(3) for i in range(3)]
    assert entries(out) == sorted([f"poster-{c}" for c in range(3)] + expected)  # nothing hidden left


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the workers through /proc")
def test_ctrl_c_stops_a_parallel_run_at_once_and_leaves_nothing_half_written(tmp_path):
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for copy in range(6):
        (folder / f"poster-{copy}.png").write_bytes(POSTER.read_bytes())
    process = subprocess.Popen(
        [STRATA, "decompose", folder, "-j", "2", "-o", out, "-q"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 30
        while len(_spawned_workers(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)  # into the first inputs
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does
        interrupted = time.monotonic()
        _, err = process.communicate(timeout=60)
        stopped_after = time.monotonic() - interrupted
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "strata: error: interrupted\n"
    assert stopped_after < 5, "the run went on after Ctrl-C"
    finished = [e for e in entries(out) if "/" not in e]
    assert len(finished) < 6 and all(not name.startswith(".") for name in finished)
    assert all(len(list((out / name).iterdir())) == 4 for name in finished)  # complete folders only


def test_an_input_that_kills_its_worker_fails_alone(images, tmp_path):
    """A worker over its CPU-time limit is killed by the kernel (SIGXCPU): the large input kills
    one in the pool and one on its own, and is reported; the small ones beside it are not lost."""
    resource = pytest.importorskip("resource")
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    Image.open(POSTER).convert("RGB").resize((2600, 2600)).save(folder / "large.png")
    for copy in range(3):
        (folder / f"small-{copy}.png").write_bytes(images["poster.png"].read_bytes())

    def limit_cpu() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (3, 3))  # seconds per process; the workers inherit it

    command = [STRATA, "decompose", folder, "-j", "2", "-n", "3", "-o", out, "--json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=limit_cpu)
    assert done.returncode == 1
    stopped = "the worker process running it stopped (killed, or out of memory)"
    assert done.stderr.splitlines() == [f"strata: error: {folder / 'large.png'}: {stopped}"]
    results = {Path(r["input"]).name: r["error"] for r in json.loads(done.stdout)["results"]}
    assert results.pop("large.png")["code"] == "internalServerError"
    assert results == {f"small-{copy}.png": None for copy in range(3)}
    assert [e for e in entries(out) if "/" not in e] == [f"small-{copy}" for copy in range(3)]


def test_jobs_are_refused_for_an_engine_on_the_gpu(capsys, images, tmp_path):
    code, _, err = run(
        capsys,
        "decompose",
        images["poster.png"],
        images["photo.jpg"],
        "--engine",
        "qwen",
        "-j",
        "2",
        "--out",
        tmp_path / "out",
    )
    assert_one_line_error(code, err, "--jobs 1")
    assert entries(tmp_path / "out") == []


# --- the happy path ---------------------------------------------------------------------------------


def test_decompose_writes_every_format_and_a_json_summary(capsys, images, tmp_path):
    code, stdout, err = run(
        capsys,
        "decompose",
        images["poster.png"],
        "-n",
        "4",
        "--format",
        ALL_FORMATS,
        "--out",
        tmp_path,
        "--json",
    )
    assert code == 0, err
    summary = json.loads(stdout)
    (result,) = summary["results"]
    assert summary["ok"] and summary["engine"] == "classic" and summary["layers"] == 4
    expected = [f"layer_{i:02d}{ext}" for i in range(4) for ext in (".png", ".webp")]
    expected += [f"layers.{ext}" for ext in ("ora", "pptx", "psd", "tiff", "zip")]
    assert result["files"] == sorted(expected)
    assert sorted(p.name for p in (tmp_path / "poster").iterdir()) == sorted(expected)
    assert result["canvas"] == [240, 180] and set(result["seconds"]) == {
        "decode",
        "decompose",
        "export",
        "total",
    }
    assert [p.name for p in tmp_path.iterdir()] == ["poster"]  # no staging folders left behind
    # The layers written, composited back to front, are the input (within 1/255).
    stack = read_stack(tmp_path / "poster")
    original = np.asarray(Image.open(images["poster.png"]).convert("RGB")).astype(int)
    assert np.abs(np.asarray(stack.composite().convert("RGB")).astype(int) - original).max() <= 1


def test_running_again_replaces_the_previous_output(capsys, images, tmp_path):
    assert run(capsys, "decompose", images["poster.png"], "-n", "3", "-f", "png,psd", "-o", tmp_path)[0] == 0
    assert (
        run(capsys, "decompose", images["poster.png"], "-n", "2", "-f", "tiff", "-o", tmp_path, "-q")[0] == 0
    )
    assert entries(tmp_path) == ["poster", "poster/layers.tiff"]
    assert len(read_stack(tmp_path / "poster" / "layers.tiff")) == 2


def test_quiet_prints_nothing(capsys, images, tmp_path):
    code, stdout, err = run(
        capsys, "decompose", images["poster.png"], "-n", "2", "--quiet", "--out", tmp_path
    )
    assert (code, stdout, err) == (0, "", "")


# --- compose ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exported")
    main(
        ["decompose", str(images["poster.png"]), "-n", "4", "--format", ALL_FORMATS, "--out", str(out), "-q"]
    )
    return out / "poster"


@pytest.mark.parametrize(
    "source", [".", "layers.tiff", "layers.psd", "layers.zip", "layers.ora", "layers.pptx"]
)
def test_compose_rebuilds_the_image_from_any_format(capsys, images, exported, tmp_path, source):
    target = tmp_path / "flat.png"
    code, _, err = run(capsys, "compose", exported / source, "--out", target)
    assert code == 0, err
    original = np.asarray(Image.open(images["poster.png"]).convert("RGBA")).astype(int)
    assert np.abs(np.asarray(Image.open(target).convert("RGBA")).astype(int) - original).max() <= 1


def test_compose_to_jpeg_flattens_alpha(capsys, exported, tmp_path):
    code, _, _ = run(capsys, "compose", exported, "-o", tmp_path / "sub" / "flat.jpg", "-q")
    assert code == 0
    with Image.open(tmp_path / "sub" / "flat.jpg") as flat:
        assert flat.mode == "RGB"
    # A transparent stack lands on white, its half-transparent red as pink, not as black and full red.
    layers = tmp_path / "clear"
    LayerStack(
        [Image.new("RGBA", (16, 16), (0, 0, 0, 0)), Image.new("RGBA", (16, 16), (255, 0, 0, 128))]
    ).save(layers)
    code, _, err = run(capsys, "compose", layers, "-o", tmp_path / "clear.jpg", "-q")
    assert code == 0, err
    with Image.open(tmp_path / "clear.jpg") as flat:
        pink = np.asarray(flat).astype(int)[8, 8]
    assert np.abs(pink - [255, 127, 127]).max() <= 6


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("layers.psd", "flat.gif", "cannot write a .gif"),
        ("missing.zip", "flat.png", "no such file"),
        ("notes.png", "flat.png", "not an image"),
        ("bomb.png", "flat.png", "than the limit"),
    ],
)
def test_compose_errors_are_one_line(capsys, images, exported, tmp_path, source, target, message):
    source_path = images[source] if source in images else exported / source
    code, _, err = run(capsys, "compose", source_path, "--out", tmp_path / target)
    assert_one_line_error(code, err, message)
    assert not (tmp_path / target).exists()


# --- info ---------------------------------------------------------------------------------------------


def test_info_json_lists_engines_formats_and_torch(capsys):
    code, stdout, _ = run(capsys, "info", "--json")
    assert code == 0
    report = json.loads(stdout)
    engines = {engine["name"]: engine for engine in report["engines"]}
    assert engines["classic"]["available"] is True
    assert engines["classic"]["min_layers"] == 2 and engines["classic"]["max_layers"] >= 20
    assert "qwen" in engines and isinstance(engines["qwen"]["reason"], str)
    assert [f["name"] for f in report["formats"]] == ["png", "webp", "tiff", "psd", "zip", "ora", "pptx"]
    assert isinstance(report["torch"]["installed"], bool)


def test_info_reports_an_engine_that_cannot_be_imported(capsys, monkeypatch):
    from strata import engines

    monkeypatch.setitem(engines._REGISTRY, "broken", "strata.engines.not_there:Nothing")
    code, stdout, _ = run(capsys, "info")
    assert code == 0
    (line,) = [line for line in stdout.splitlines() if "broken" in line]
    assert "unavailable" in line and "No module named" in line


# --- the installed script, in a subprocess ------------------------------------------------------------


def test_installed_script_bomb_gives_no_traceback(images, tmp_path):
    done = subprocess.run(
        [STRATA, "decompose", images["bomb.png"], "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert_one_line_error(done.returncode, done.stderr, "than the limit")
    assert entries(tmp_path) == []


def test_installed_script_decomposes_and_composes(images, tmp_path):
    done = subprocess.run(
        [STRATA, "decompose", images["photo.jpg"], "-n", "3", "-f", "psd", "-o", tmp_path, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["files"] == ["layers.psd"]
    done = subprocess.run(
        [STRATA, "compose", tmp_path / "photo" / "layers.psd", "-o", tmp_path / "flat.png"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "flat.png") as flat:
        assert flat.size == (240, 180)
