"""The ``qwen`` engine on a tiny real checkpoint: built by ``strata qwen make-tiny``, loaded from disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from shared_data import POSTERS
from strata.cli import main as cli_main
from strata.engines import Engine, get_engine
from strata.engines.qwen_parts.canvas import resize_rgba
from strata.engines.qwen_parts.lora import lora_file_name, phase_active
from strata.engines.qwen_parts.schedulers import SCHEDULERS
from strata.errors import Cancelled, InvalidParameter, ModelUnavailable, UnsupportedParameter

POSTER = str(POSTERS / "qwen-demo-1.png")
FAST = {"steps": 2, "seed": 7, "prompt": "a poster with a title"}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The test machine's two cores are shared: one intra-op thread is ~5x faster than two here."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("qwen") / "tiny"
    cli_main(["qwen", "make-tiny", str(directory)])
    return directory


@pytest.fixture(scope="session")
def engine(checkpoint):
    engine = get_engine("qwen", model_path=str(checkpoint))
    engine.load()
    return engine


@pytest.fixture(scope="session")
def image():
    return Image.open(POSTER).convert("RGB").resize((96, 64))


def run(engine, image, layers=2, **options):
    return engine.decompose(image, layers, {**FAST, **options})


def pixels(stack):
    return np.stack([np.asarray(layer) for layer in stack.layers])


@pytest.fixture(scope="session")
def base(engine, image):
    """The FAST request's layers: CFG on (default 4.0), seed 7, two steps."""
    return run(engine, image)


@pytest.fixture(scope="session")
def seed_eight(engine, image):
    return pixels(run(engine, image, seed=8))


def test_engine_contract_and_availability(engine):
    assert isinstance(engine, Engine) and engine.name == "qwen"
    usable, reason = engine.availability()
    assert usable and str(engine.model_path) in reason


def test_layers_are_rgba_on_the_input_canvas(base):
    assert len(base) == 2
    assert all(layer.mode == "RGBA" and layer.size == (96, 64) for layer in base.layers)
    assert base.metadata["bucket"] == [768, 512]
    assert base.metadata["forwards_computed"] == 4 and base.metadata["forwards_reused"] == 0


def test_layer_count_and_requested_canvas(engine, image):
    stack = run(engine, image, layers=3, width=50, height=40)
    assert len(stack) == 3 and stack.size == (50, 40)


def test_layers_match_stock_pipeline_in_order(engine, image):
    """At the bucket size the engine returns the pipeline's layers unchanged, bottom to top."""
    import torch

    from strata.engines.qwen_parts.canvas import flatten_input

    stack = run(engine, image, width=768, height=512)
    generator = torch.Generator("cpu").manual_seed(7)
    recipe = {"true_cfg_scale": 4.0, "resolution": 640, "cfg_normalize": True, "num_inference_steps": 2}
    stock = engine._pipe(
        image=flatten_input(image),
        prompt=FAST["prompt"],
        negative_prompt=" ",
        layers=2,
        generator=generator,
        **recipe,
    ).images[0]
    assert [np.asarray(layer).tolist() for layer in stack.layers] == [np.asarray(x).tolist() for x in stock]


def test_same_seed_same_layers_other_seed_differs(engine, image, base, seed_eight):
    assert np.array_equal(pixels(run(engine, image)), pixels(base))
    assert not np.array_equal(pixels(base), seed_eight)


def test_cfg_off_runs_one_forward_per_step_and_ignores_negative_prompt(engine, image, base):
    off = run(engine, image, true_cfg_scale=1.0, negative_prompt="blurry")
    off_other_negative = run(engine, image, cfg_scale=0.5, negative_prompt="sharp")
    assert off.metadata["forwards_computed"] == 2 and not off.metadata["cfg"]
    assert np.array_equal(pixels(off), pixels(off_other_negative))
    assert not np.array_equal(pixels(off), pixels(base))
    # true_cfg_scale (settings.trueCFGScale) wins over cfg_scale (CFGScale)
    on = run(engine, image, cfg_scale=1.0, true_cfg_scale=4.0)
    assert on.metadata["forwards_computed"] == 4 and np.array_equal(pixels(on), pixels(base))


def test_auto_caption_is_cached_per_image_and_language(engine, image):
    cache = engine.caption_cache
    hits, misses = cache.hits, cache.misses
    first = run(engine, image, prompt="", steps=1)
    second = run(engine, image, prompt="", steps=1)
    assert first.metadata["auto_caption"] and first.metadata["prompt"] == second.metadata["prompt"]
    assert (cache.hits - hits, cache.misses - misses) == (1, 1)
    run(engine, image, prompt="", caption_language="zh", steps=1)
    assert cache.misses - misses == 2


def test_number_results_share_one_prompt_encoding(engine, image, monkeypatch, base, seed_eight):
    calls = []
    original = engine._pipe._get_qwen_prompt_embeds
    monkeypatch.setattr(
        engine._pipe, "_get_qwen_prompt_embeds", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    engine._embedding_cache.clear()
    stacks = engine.decompose_all(image, 2, {**FAST, "number_results": 2})
    assert len(calls) == 2  # prompt and negative prompt, once for both results
    assert [s.metadata["seed"] for s in stacks] == [7, 8]
    assert np.array_equal(pixels(stacks[0]), pixels(base)) and np.array_equal(pixels(stacks[1]), seed_eight)
    run(engine, image, seed=9)  # a later request with the same prompts reuses the encodings
    assert len(calls) == 2


@pytest.mark.parametrize("name", [n for n in SCHEDULERS if n not in ("Euler", "UniPC")])
def test_every_scheduler_mapping_runs(engine, image, name):
    stack = run(engine, image, scheduler=name.upper(), steps=3)
    class_name, overrides = SCHEDULERS[name]
    scheduler = engine._pipe.scheduler
    assert stack.metadata["scheduler"] == name and type(scheduler).__name__ == class_name
    assert all(scheduler.config[key] == value for key, value in overrides.items())
    assert scheduler.config["time_shift_type"] == "linear"  # the checkpoint's shift is kept
    assert all(np.isfinite(np.asarray(layer)).all() and np.asarray(layer).std() > 0 for layer in stack.layers)


def test_scheduler_alias_and_bad_name_lists_allowed(engine, image, base):
    assert np.array_equal(pixels(run(engine, image, scheduler="euler")), pixels(base))
    with pytest.raises(InvalidParameter) as info:
        run(engine, image, scheduler="DPM++ 2M Karras")
    assert info.value.allowed_values == list(SCHEDULERS)


def test_progress_then_cancel_stops_before_decode(engine, image, monkeypatch):
    decodes, seen = [], []
    original = engine._pipe.vae.decode
    monkeypatch.setattr(engine._pipe.vae, "decode", lambda *a, **k: decodes.append(1) or original(*a, **k))
    with pytest.raises(Cancelled):
        engine.decompose(
            image,
            2,
            {**FAST, "steps": 5},
            progress=lambda f, s: seen.append(f),
            should_cancel=lambda: len(seen) >= 2,
        )
    assert len(seen) == 2 and decodes == []
    done = []  # the engine still works after a cancel
    engine.decompose(image, 2, {**FAST, "steps": 3}, progress=lambda f, s: done.append(f))
    assert done == sorted(done) and done[-1] == 1.0


# --- LoRA -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lora_dir(checkpoint, tmp_path_factory):
    """A random rank-4 LoRA for the tiny transformer, saved with diffusers' own writer."""
    import torch
    from diffusers import QwenImageLayeredPipeline, QwenImageTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = QwenImageTransformer2DModel.from_pretrained(checkpoint / "transformer")
    torch.manual_seed(3)
    transformer.add_adapter(
        LoraConfig(
            r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"]
        )
    )
    folder = tmp_path_factory.mktemp("loras")
    QwenImageLayeredPipeline.save_lora_weights(
        folder,
        transformer_lora_layers=get_peft_model_state_dict(transformer),
        weight_name=lora_file_name("test:style@1"),
    )
    return folder


def test_lora_applies_switches_by_phase_and_restores(engine, checkpoint, image, lora_dir, monkeypatch):
    monkeypatch.setenv("STRATA_LORA_DIR", str(lora_dir))
    fresh = get_engine("qwen", model_path=str(checkpoint))
    fresh_layers = pixels(run(fresh, image))
    outputs, switches = {}, []
    original = engine._pipe.set_adapters
    monkeypatch.setattr(engine._pipe, "set_adapters", lambda n, w: switches.append(list(w)) or original(n, w))
    for phase in ("both", "high", "low"):
        lora = [{"model": "test:style@1", "weight": 0.8, "transformer": phase}]
        outputs[phase] = pixels(run(engine, image, lora=lora))
    assert switches == [[0.8], [0.8], [0.0], [0.0], [0.8]]  # both; high then off; off then low
    assert len({o.tobytes() for o in [fresh_layers, *outputs.values()]}) == 4
    assert np.array_equal(pixels(run(engine, image)), fresh_layers)


def test_lora_phase_halves():
    assert [phase_active("high", s, 5) for s in range(5)] == [True, True, True, False, False]
    assert [phase_active("low", s, 5) for s in range(5)] == [False, False, False, True, True]


def test_missing_lora_file_is_a_clear_error(engine, image, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_LORA_DIR", str(tmp_path))
    with pytest.raises(InvalidParameter, match=r"nope_1\.safetensors"):
        run(engine, image, lora=[{"model": "nope@1"}])


# --- step caches ----------------------------------------------------------------------------------

CACHES = {
    "fb_cache": "fb_cache_threshold",
    "tea_cache": "tea_cache_distance",
    "db_cache": "db_cache_threshold",
}


@pytest.fixture(scope="session")
def uncached(engine, image):
    return pixels(run(engine, image, steps=4))


@pytest.mark.parametrize("method", CACHES)
def test_cache_at_threshold_zero_equals_uncached(engine, image, uncached, method):
    stack = run(engine, image, steps=4, accelerators={method: True, CACHES[method]: 0.0})
    assert stack.metadata["forwards_reused"] == 0 and stack.metadata["forwards_computed"] == 8
    assert np.array_equal(pixels(stack), uncached)


@pytest.mark.parametrize("method", CACHES)
def test_cache_reuses_within_window_and_streak(engine, image, method):
    def reused(**window):
        accelerators = {method: True, CACHES[method]: 1e9, **window}
        meta = run(engine, image, steps=4, accelerators=accelerators).metadata
        assert meta["forwards_computed"] + meta["forwards_reused"] == 8
        return meta["forwards_reused"]

    assert reused() == 6  # every step after the first of each CFG branch
    assert reused(cache_start_step=2) == 4  # steps 2, 3 of two branches
    assert reused(cache_end_step_percentage=50) == 2  # step 1 only
    assert reused(cache_max_consecutive_steps=1) == 4  # steps 1 and 3: never two in a row


def test_pipeline_is_restored_after_caching(engine, image, uncached):
    assert np.array_equal(pixels(run(engine, image, steps=4)), uncached)


def test_two_caches_or_unknown_keys_are_rejected(engine, image):
    with pytest.raises(InvalidParameter, match="one step cache"):
        run(engine, image, accelerators={"fb_cache": True, "tea_cache": True})
    with pytest.raises(InvalidParameter) as info:
        run(engine, image, accelerators={"fbCache": True})
    assert "fb_cache" in info.value.allowed_values


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "options", "error"),
    [
        (2, {"resolution": 800}, InvalidParameter),
        (2, {"steps": 0}, InvalidParameter),
        (2, {"true_cfg_scale": "high"}, InvalidParameter),
        (2, {"width": 100}, InvalidParameter),
        (2, {"lora": [{"model": "x", "transformer": "middle"}]}, InvalidParameter),
        (2, {"guidance_scale": 3}, UnsupportedParameter),
        (21, {}, InvalidParameter),
        (1, {}, InvalidParameter),
    ],
)
def test_bad_options_fail_before_running(checkpoint, image, layers, options, error):
    engine = get_engine("qwen", model_path=str(checkpoint))
    with pytest.raises(error):
        engine.decompose(image, layers, options)
    assert engine._pipe is None  # rejected before loading anything


def test_more_than_ten_layers_warns():
    from strata.engines.qwen_parts.options import parse_request

    with pytest.warns(UserWarning, match="above the recommended 10"):
        assert parse_request(12, {}).layers == 12


def test_missing_weights_name_the_setting(tmp_path, monkeypatch, image):
    monkeypatch.delenv("STRATA_QWEN_MODEL_PATH", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    usable, reason = get_engine("qwen").availability()
    assert not usable and "STRATA_QWEN_MODEL_PATH" in reason
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "model_index.json").write_text("{}")
    with pytest.raises(ModelUnavailable, match="missing component folder"):
        get_engine("qwen", model_path=str(tmp_path / "partial")).decompose(image, 2, FAST)


def test_bad_load_settings_are_clear_errors(checkpoint):
    import torch

    with pytest.raises(InvalidParameter, match="offload must be one of"):
        get_engine("qwen", model_path=str(checkpoint), offload="halfway").load()
    if not torch.cuda.is_available():
        with pytest.raises(ModelUnavailable, match="CUDA is not available"):
            get_engine("qwen", model_path=str(checkpoint), device="cuda").load()


def test_load_settings_come_from_the_environment_unless_given(checkpoint, monkeypatch):
    """The CLI, the library and the server construct the engine bare: the environment configures it."""
    import torch

    monkeypatch.setenv("STRATA_QWEN_OFFLOAD", "halfway")
    with pytest.raises(InvalidParameter, match="offload must be one of"):
        get_engine("qwen", model_path=str(checkpoint)).load()
    get_engine("qwen", model_path=str(checkpoint), offload="none").load()  # the argument wins
    monkeypatch.delenv("STRATA_QWEN_OFFLOAD")
    monkeypatch.setenv("STRATA_QWEN_COMPILE", "maybe")
    with pytest.raises(InvalidParameter, match="STRATA_QWEN_COMPILE must be one of"):
        get_engine("qwen", model_path=str(checkpoint)).load()
    monkeypatch.setenv("STRATA_QWEN_COMPILE", "off")
    monkeypatch.setenv("STRATA_QWEN_DTYPE", "bfloat16")
    engine = get_engine("qwen", model_path=str(checkpoint))
    engine.load()
    assert engine._pipe.transformer.dtype == torch.bfloat16
    if not torch.cuda.is_available():
        monkeypatch.setenv("STRATA_QWEN_DEVICE", "cuda")
        with pytest.raises(ModelUnavailable, match="CUDA is not available"):
            get_engine("qwen", model_path=str(checkpoint)).load()


def test_cli_model_path_runs_the_qwen_engine(checkpoint, tmp_path, capsys):
    source = tmp_path / "poster.png"
    Image.open(POSTER).convert("RGB").resize((64, 48)).save(source)
    cli_main(["decompose", str(source), "--engine", "qwen", "--model-path", str(checkpoint), "-n", "3",
              "-O", "steps=2", "-O", "seed=11", "-O", "prompt=a poster", "-o", str(tmp_path / "out"),
              "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err == ""  # no loading progress bars from diffusers or transformers
    metadata = json.loads(captured.out)["results"][0]["metadata"]
    assert (metadata["steps"], metadata["seed"], metadata["prompt"]) == (2, 11, "a poster")
    written = sorted((tmp_path / "out" / "poster").iterdir())
    assert [p.name for p in written] == ["layer_00.png", "layer_01.png", "layer_02.png"]
    for path in written:
        with Image.open(path) as layer:
            assert layer.mode == "RGBA" and layer.size == (64, 48)
    with pytest.raises(SystemExit) as info:
        cli_main(["decompose", str(source), "--model-path", str(checkpoint), "-o", str(tmp_path / "classic")])
    assert info.value.code == 1
    assert capsys.readouterr().err.strip() == "strata: error: --model-path is a setting of the qwen engine"
    assert not (tmp_path / "classic").exists()


def test_make_tiny_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as info:
        cli_main(["qwen", "make-tiny", str(tmp_path)])
    assert info.value.code == 1
    assert capsys.readouterr().err.strip() == f"strata: error: {tmp_path} exists and is not an empty folder"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_resize_keeps_edge_colour():
    layer = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (0, 0, 4, 8))
    resized = np.asarray(resize_rgba(layer, (5, 5)))
    visible = resized[resized[..., 3] > 0]
    assert (visible[:, 0] >= 250).all() and (visible[:, 1:3] <= 5).all()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Torchinductor does not support code generation for complex:UserWarning")
def test_adapters_and_caches_run_uncompiled_and_compile_nothing(
    checkpoint, engine, image, lora_dir, monkeypatch
):
    """With compiled blocks, a LoRA's scale and the caches' hooks made dynamo recompile the block again
    and again; such requests now run the blocks eagerly (bit-identical to an uncompiled engine)."""
    import torch
    from torch._dynamo.utils import counters

    monkeypatch.setenv("STRATA_LORA_DIR", str(lora_dir))
    compiled = get_engine("qwen", model_path=str(checkpoint))
    compiled.load()
    compiled._pipe.transformer.compile_repeated_blocks(fullgraph=False, dynamic=None)
    try:
        plain = pixels(run(compiled, image, steps=3))  # compiles: the prompt's and the negative's lengths
        graphs = counters["stats"]["unique_graphs"]
        for options in (
            {"lora": [{"model": "test:style@1", "weight": 0.8, "transformer": "high"}]},
            {"accelerators": {"fb_cache": True, "fb_cache_threshold": 1e9}},
            {"accelerators": {"tea_cache": True, "tea_cache_distance": 1e9}},
        ):
            layers = pixels(run(compiled, image, steps=3, **options))
            assert np.array_equal(layers, pixels(run(engine, image, steps=3, **options)))
        assert counters["stats"]["unique_graphs"] == graphs
        assert np.array_equal(pixels(run(compiled, image, steps=3)), plain)  # the plain graphs still serve
        assert counters["stats"]["unique_graphs"] == graphs
    finally:
        torch._dynamo.reset()
