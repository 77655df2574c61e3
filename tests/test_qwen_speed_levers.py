"""The qwen engine's GPU speed levers on the tiny real pipeline: the GELU epilogue and compile settings.

On a CPU the swapped module runs the same GEMM on the projection's weights with a separate tanh GELU
(PyTorch's CPU epilogue computes the exact GELU, not the model's tanh one), so these tests pin what
must hold everywhere: which modules are swapped, that parameter names and outputs do not change, that
adapters still apply, and when the lever is used. The fused GEMM itself is compared with stock
diffusers on a GPU by ``benchmarks/qwen_gpu.py``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from strata.engines.qwen_parts import tiny
from strata.engines.qwen_parts.epilogue import GemmGelu, fuse_gelu
from strata.engines.qwen_parts.loading import LoadSettings, apply_speed_levers


@pytest.fixture(scope="module")
def pipe():
    return tiny.build_pipeline()


def layers(pipe, transformer) -> np.ndarray:
    import torch

    pipe.transformer = transformer
    out = pipe(
        image=Image.new("RGBA", (96, 64), (30, 120, 200, 255)),
        prompt="a blue poster",
        negative_prompt=" ",
        true_cfg_scale=4.0,
        layers=2,
        num_inference_steps=2,
        resolution=640,
        generator=torch.Generator("cpu").manual_seed(5),
    )
    return np.stack([np.asarray(layer) for layer in out.images[0]])


def test_every_mlp_is_swapped_keeping_names_and_output(pipe):
    stock = tiny.build_transformer()
    fused = copy.deepcopy(stock)
    assert fuse_gelu(fused) == 2 * len(fused.transformer_blocks)  # image and text MLP per block
    assert all(isinstance(block.img_mlp.net[0], GemmGelu) for block in fused.transformer_blocks)
    assert list(fused.state_dict()) == list(stock.state_dict())
    assert np.array_equal(layers(pipe, fused), layers(pipe, stock))
    assert fuse_gelu(fused) == 0  # already swapped: nothing left to swap


def test_an_adapter_on_the_projection_still_applies(pipe):
    """A LoRA on ``net.0.proj`` wraps the projection; the swapped module must run it, not bypass it."""
    import torch
    from peft import LoraConfig

    def adapted(transformer):
        torch.manual_seed(9)
        config = LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["net.0.proj"])
        transformer.add_adapter(config)
        return transformer

    plain = layers(pipe, tiny.build_transformer())
    fused = tiny.build_transformer()
    fuse_gelu(fused)
    with_lora = layers(pipe, adapted(fused))
    assert not np.array_equal(with_lora, plain)
    assert np.array_equal(with_lora, layers(pipe, adapted(tiny.build_transformer())))


@pytest.mark.parametrize(
    ("device", "offload", "fuse", "swapped"),
    [
        ("cuda", "none", True, True),
        ("cuda:1", "none", True, True),
        ("cuda", "group", True, False),  # offload hooks move weights on call; the epilogue reads them
        ("cuda", "none", False, False),
        ("mps", "none", True, False),
        ("cpu", "none", True, False),
    ],
)
def test_the_lever_is_used_on_cuda_without_offload_only(pipe, device, offload, fuse, swapped):
    pipe.transformer = tiny.build_transformer()
    settings = LoadSettings(Path("unused"), device, "bfloat16", offload, fuse_gelu=fuse)
    apply_speed_levers(pipe, settings)  # no backend, no compile: nothing here needs a GPU
    assert isinstance(pipe.transformer.transformer_blocks[0].txt_mlp.net[0], GemmGelu) is swapped


def test_compile_is_regional_and_generic_in_the_prompt_length(pipe, monkeypatch):
    """Static graphs recompile for every new prompt length (5 s each on an H200, eager after 8)."""
    pipe.transformer = tiny.build_transformer()
    calls = []
    monkeypatch.setattr(pipe.transformer, "compile_repeated_blocks", lambda **kw: calls.append(kw))
    apply_speed_levers(pipe, LoadSettings(Path("unused"), "cuda", "bfloat16", compile=True))
    assert calls == [{"fullgraph": False, "dynamic": None}]


@pytest.mark.parametrize(
    ("method", "key"),
    [
        ("fb_cache", "fb_cache_threshold"),
        ("tea_cache", "tea_cache_distance"),
        ("db_cache", "db_cache_threshold"),
    ],
)
def test_step_caches_compose_with_the_epilogue(pipe, method, key):
    """Each cache's hooks wrap blocks whose MLPs are swapped: at threshold 0 nothing changes, and a
    huge threshold still reuses every step after the first of each CFG branch."""
    from strata.engines.qwen import QwenEngine

    pipe.transformer = tiny.build_transformer()
    engine = QwenEngine.from_pipeline(pipe)
    image = Image.new("RGB", (96, 64), (30, 120, 200))
    request = {"prompt": "a blue poster", "steps": 3, "seed": 4}

    def decompose(**accelerators):
        stack = engine.decompose(image, 2, {**request, "accelerators": accelerators})
        return np.stack([np.asarray(layer) for layer in stack.layers]), stack.metadata["forwards_reused"]

    plain, _ = decompose()
    fuse_gelu(pipe.transformer)
    fused, reused = decompose()
    assert reused == 0 and np.array_equal(fused, plain)
    exact, reused = decompose(**{method: True, key: 0.0})
    assert reused == 0 and np.array_equal(exact, plain)
    assert decompose(**{method: True, key: 1e9})[1] == 4
