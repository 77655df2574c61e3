"""The evaluation harness: metrics on hand-built layers, ground truth from a real PSD, the run and the CLI."""

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from shared_data import DESIGNS, load_benchmark
from strata.evaluation import evaluate, load_dataset
from strata.evaluation.edits import edit_scores
from strata.evaluation.groundtruth import find_designs, load_ground_truth
from strata.evaluation.layer import Layer, over
from strata.evaluation.metrics import alpha_iou, dtw_path, group_top_layers, pair_score, rgb_l1
from strata.layers import LayerStack

SIZE = (8, 8)


def rect(color, box, alpha=1.0, size=SIZE) -> Layer:
    """A layer of one colour inside ``box`` = (top, left, bottom, right)."""
    rgba = np.zeros((*size, 4), np.float32)
    top, left, bottom, right = box
    rgba[top:bottom, left:right] = (*color, alpha)
    return Layer.from_array(rgba)


WHITE = rect((1, 1, 1), (0, 0, *SIZE))


# --- metrics on layers with known answers ---------------------------------------------------------


def test_identical_layers_score_perfectly():
    layer = rect((0.2, 0.4, 0.6), (1, 1, 5, 7), alpha=0.7)
    score = pair_score(layer, layer)
    assert score.l1 == 0.0
    assert score.iou == pytest.approx(1.0)
    levels = edit_scores([WHITE, layer], [WHITE, layer])
    assert (levels[0].l1, levels[0].iou, len(levels)) == (0.0, pytest.approx(1.0), 1)


def test_disjoint_alphas_have_zero_iou():
    assert alpha_iou(rect((1, 0, 0), (0, 0, 4, 4)), rect((1, 0, 0), (4, 4, 8, 8))) == 0.0
    empty = Layer.from_array(np.zeros((*SIZE, 4), np.float32))
    assert alpha_iou(empty, empty) == 0.0


def test_soft_iou_and_l1_by_hand():
    pred = rect((0.5, 0.0, 0.0), (0, 0, 2, 2), alpha=0.5)  # 4 pixels at alpha 0.5
    gt = rect((1.0, 0.0, 0.0), (0, 0, 1, 2))  # 2 of them at alpha 1
    # min sum = 2 * 0.5 = 1; max sum = 2 * 1 + 2 * 0.5 = 3
    assert alpha_iou(pred, gt) == pytest.approx(1 / 3)
    # |0.5 - 1| on red, 0 on green and blue, averaged over channels; only where gt is visible
    assert rgb_l1(pred, gt) == pytest.approx(0.5 / 3)
    # straight colour: the predicted alpha does not matter, a missing prediction counts as black
    assert rgb_l1(rect((0.5, 0, 0), (0, 0, 2, 2), alpha=0.01), gt) == pytest.approx(0.5 / 3)
    assert rgb_l1(rect((1, 0, 0), (6, 6, 8, 8)), gt) == pytest.approx(1 / 3)
    assert pair_score(pred, gt).cost == pytest.approx((0.5 / 3 + 1 - 1 / 3) / 2)


def test_over_matches_the_package_compositor():
    from strata.imaging.compose import over as reference_over

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (6, 9, 4), dtype=np.uint8) for _ in range(3)]
    arrays[1][:3] = 0  # partly empty layers, so crops differ from the canvas
    mine = over([Layer.from_array(a) for a in arrays]).to_array()
    reference = reference_over(arrays)
    visible = reference[..., 3:] > 0
    assert np.allclose(mine[..., 3], reference[..., 3], atol=1e-5)
    assert np.allclose(mine[..., :3] * visible, reference[..., :3] * visible, atol=1e-5)


# --- grouping, DTW, edits ---------------------------------------------------------------------------


def test_grouping_merges_layers_that_overlap_nothing_above():
    a, b = rect((1, 0, 0), (0, 0, 3, 3)), rect((0, 1, 0), (5, 5, 8, 8))
    groups = group_top_layers([WHITE, a, b])
    assert len(groups) == 2
    assert groups[1].alpha_sum == pytest.approx(a.alpha_sum + b.alpha_sum)
    c = rect((0, 0, 1), (2, 2, 6, 6))  # overlaps a below it
    assert len(group_top_layers([WHITE, a, c])) == 3
    assert len(group_top_layers([WHITE, a, b, c])) == 3  # {b, c} on top, then a, then the background


def test_dtw_path_by_hand():
    cost = np.array([[0.1, 0.9], [0.2, 0.8], [0.9, 0.1]])
    # D = [[0.1, 1.0], [0.3, 0.9], [1.2, 0.4]]: from (2, 1) the cheapest predecessor is (1, 0)
    assert dtw_path(cost) == [(0, 0), (1, 0), (2, 1)]
    assert dtw_path(np.zeros((2, 2))) == [(0, 0), (1, 1)]  # ties take the diagonal
    assert dtw_path(np.zeros((1, 3))) == [(0, 0), (0, 1), (0, 2)]


def test_dtw_path_is_the_cheapest_monotone_path():
    rng = np.random.default_rng(1)
    cost = rng.random((4, 5))
    best = min(monotone_paths(4, 5), key=lambda path: sum(cost[p] for p in path))
    found = dtw_path(cost)
    assert sum(cost[p] for p in found) == pytest.approx(sum(cost[p] for p in best))


def monotone_paths(n, m):
    """Every path from (0, 0) to (n-1, m-1) with steps (1, 0), (0, 1), (1, 1)."""
    if (n, m) == (1, 1):
        yield [(0, 0)]
        return
    for di, dj in itertools.product((0, 1), repeat=2):
        if (di or dj) and n - di >= 1 and m - dj >= 1:
            for path in monotone_paths(n - di, m - dj):
                yield [*path, (n - 1, m - 1)]


def test_a_merge_that_joins_a_split_element_improves_the_score():
    square = rect((0, 0, 1), (2, 2, 6, 6))
    left, right = rect((0, 0, 1), (2, 2, 6, 4)), rect((0, 0, 1), (2, 4, 6, 6))
    levels = edit_scores([WHITE, left, right], [WHITE, square], group=False)
    assert levels[0].iou == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert levels[1].cost < levels[0].cost
    assert (levels[1].l1, levels[1].iou, levels[1].pred_layers) == (0.0, pytest.approx(1.0), 2)
    assert len(levels) == 2  # nothing left to improve: stops early
    # the same split on the ground-truth side is merged there, unless the ground truth is frozen
    assert edit_scores([WHITE, square], [WHITE, left, right], group=False)[1].gt_layers == 2
    frozen = edit_scores([WHITE, square], [WHITE, left, right], group=False, gt_editable=False)
    assert all(level.gt_layers == 3 for level in frozen)


def test_edits_stop_after_five():
    gt = [WHITE] + [rect((0, 0, 1), (0, i, 8, i + 1)) for i in range(8)]
    pred = [WHITE, over(gt[1:])]
    levels = edit_scores(pred, gt, group=False)
    assert [level.edits for level in levels] == [0, 1, 2, 3, 4, 5]
    assert levels[5].cost < levels[0].cost


# --- ground truth from real designs -----------------------------------------------------------------


def visible_leaves(psd):
    return [lay for lay in psd.descendants() if lay.is_visible() and not lay.is_group() and not lay.clipping]


def test_ground_truth_from_a_real_psd_matches_psd_tools():
    from psd_tools import PSDImage

    path = DESIGNS / "uv-mobile.psd"
    psd = PSDImage.open(path)
    leaf = load_ground_truth(path, "leaf")
    group = load_ground_truth(path, "group")
    assert len(leaf.layers) == len(visible_leaves(psd)) == 8
    assert len(group.layers) == len([lay for lay in psd if lay.is_visible()]) == 5
    assert leaf.image.size == group.image.size == psd.size
    reference = np.asarray(psd.composite().convert("RGBA"), np.float64)
    flat = reference[..., :3] * reference[..., 3:] / 255 + 255 - reference[..., 3:]
    for truth in (leaf, group):
        mse = np.mean((np.asarray(truth.image, np.float64) - flat) ** 2)
        assert 10 * np.log10(255**2 / mse) > 40
        composite = over(truth.layers).to_uint8()
        assert np.array_equal(composite[..., :3], np.asarray(truth.image))


def test_ground_truth_adds_white_under_a_transparent_design_and_drops_hidden_layers():
    locked = load_ground_truth(DESIGNS / "psdrb-locked.psd", "group")
    assert locked.names[0] == "white background"
    assert locked.layers[0].alpha_sum == pytest.approx(800 * 700)
    share = load_ground_truth(DESIGNS / "uv-share-iiif.psd", "leaf")  # its Background is fully covered
    assert share.names == ["Layer 1", "IIIF-logo-colored-text"]


def test_max_side_scales_the_canvas():
    truth = load_ground_truth(DESIGNS / "uv-mobile.psd", "leaf", max_side=200)
    assert max(truth.image.size) == 200
    assert all(layer.canvas == (200, 126) for layer in truth.layers)
    full = load_ground_truth(DESIGNS / "uv-mobile.psd", "leaf").image.resize((126, 200), Image.Resampling.BOX)
    diff = np.abs(np.asarray(truth.image, np.int16) - np.asarray(full, np.int16))
    assert diff.max() <= 2  # every layer landed where it belongs (area averaging is linear)


def test_bad_datasets_are_clear_errors(tmp_path):
    from strata.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"no \.psd"):
        find_designs(tmp_path)
    bogus = tmp_path / "bogus.psd"
    bogus.write_bytes(b"not a psd at all")
    with pytest.raises(InvalidInput, match="not a readable"):
        load_ground_truth(bogus)


# --- running a decomposer over designs --------------------------------------------------------------


def test_returning_the_ground_truth_scores_perfectly_and_kmeans_does_not():
    truths = load_dataset(DESIGNS / "uv-results2.psd", "leaf")
    truth = truths[0]

    def oracle(image: Image.Image, layers: int) -> LayerStack:
        return LayerStack.from_arrays([layer.to_uint8() for layer in truth.layers])

    perfect = evaluate(truths, oracle, 4).designs[0]
    assert (perfect.at(0).l1, perfect.at(0).iou) == (0.0, pytest.approx(1.0))
    assert perfect.max_error <= 0.5 + 1e-3  # the input is the 8-bit rounding of the layers' composite
    kmeans = evaluate(truths, load_benchmark("kmeans_baseline").decompose, 4, engine="kmeans")
    result = kmeans.designs[0]
    assert result.pred_layers == 4 and result.max_error == 0.0  # hard clusters recompose exactly
    assert result.at(0).iou < 0.9
    assert result.at(5).cost <= result.at(1).cost <= result.at(0).cost
    summary = kmeans.to_dict()
    assert summary["mean"]["edits"][0]["iou"] == pytest.approx(result.at(0).iou)


# --- the command line -------------------------------------------------------------------------------


def strata(capsys, *args):
    """Run ``strata ARGS`` in-process; return (exit code, stdout, stderr)."""
    from strata.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_command_prints_tables_and_writes_json(capsys, tmp_path):
    design = str(DESIGNS / "uv-share-iiif.psd")
    out = tmp_path / "scores.json"
    code, stdout, _ = strata(capsys, "eval", design, "--layers", "3", "--max-side", "160", "--json", str(out))
    assert code == 0
    assert "uv-share-iiif" in stdout and "mean" in stdout and "RGB L1" in stdout
    report = json.loads(out.read_text())
    assert (report["engine"], report["layers"], report["granularity"], report["max_side"]) == (
        "classic",
        3,
        "group",
        160,
    )
    (only,) = report["designs"]
    assert only["pred_layers"] == 3 and only["max_error"] <= 1.0
    assert 1 <= len(only["edits"]) <= 6 and len(report["mean"]["edits"]) == 6
    assert report["mean"]["edits"][0]["iou"] == only["edits"][0]["iou"]
    code, stdout, _ = strata(
        capsys, "eval", design, "-n", "3", "--max-side", "160", "--granularity", "leaf", "--json", "-"
    )
    assert code == 0 and json.loads(stdout)["granularity"] == "leaf"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/designs"], "no such dataset"),
        (["{empty}"], "no .psd or .psb designs"),
        (["{design}", "--granularity", "pixel"], "granularity must be one of group, leaf"),
        (["{design}", "--layers", "1"], "layers must be between"),
        (["{design}", "--max-side", "10"], "--max-side must be at least"),
        (["{design}", "--json", "/nonexistent/dir/out.json"], "is not a writable folder"),
    ],
)
def test_eval_command_bad_input_is_one_line(capsys, tmp_path, args, message):
    args = [a.format(empty=tmp_path, design=DESIGNS / "uv-share-iiif.psd") for a in args]
    code, _, stderr = strata(capsys, "eval", *args)
    assert code != 0
    assert stderr.startswith("strata: error: ") and message in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
