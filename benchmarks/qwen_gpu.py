"""Qwen-Image-Layered on one GPU: stock diffusers pipeline against the strata ``qwen`` engine.

The full-size transformer (60 blocks, 3072 wide) and the full-size RGBA VAE are built from their
configs with random bf16 weights directly on the GPU; nothing is downloaded. The text encoder is a
one-layer Qwen2.5-VL of the real width (3584), so prompt embeddings have the real shape; its cost is
not representative and is excluded from the per-forward figures. Workload: 640 px bucket (square
input), 4 layers, true CFG 4.0 with cfg_normalize, ``--steps`` steps (>= 10), extrapolated to 50.

First the ceilings, in the same process: bf16 TFLOP/s of matrix products and of the workload's
attention per SDPA kernel. Then, one lever at a time on the same weights (stock, eager attention
backends, step caches on the eager engine, regional compile, compile with the GELU epilogue), per
configuration: compile/warm-up seconds, seconds per transformer forward (CUDA events around every
forward), end-to-end seconds for the run and extrapolated to 50 steps, peak GPU memory, achieved
TFLOP/s against the FLOP count of docs/qwen-image-layered.md §6 (204 TFLOP per forward at 200 text
tokens; the exact count for this prompt is printed too), and the largest pixel difference from the
stock output for the same seed and inputs. Step caches are reported separately: with random weights
their reuse pattern says nothing about quality. ``--profile`` ends with the last configuration's
kernels over one step. docs/performance.md holds a run's figures.

    python benchmarks/qwen_gpu.py --steps 20 --caches --json qwen_gpu.json --profile kernels.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

REFERENCE_TFLOP = 204.0
#: About 200 text tokens after templating with the byte-level benchmark tokenizer, the T of the doc's count.
PROMPT = "A flat poster: blue background, red circle, white title box, yellow star."
TRANSFORMER = {
    "patch_size": 2,
    "in_channels": 64,
    "out_channels": 16,
    "num_layers": 60,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 3584,
    "axes_dims_rope": (16, 56, 56),
    "use_additional_t_cond": True,
    "use_layer3d_rope": True,
}
VAE = {
    "base_dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "input_channels": 4,
}


def build_pipeline() -> Any:
    """The layered pipeline at full size with random bf16 weights, on the GPU."""
    import torch
    from diffusers import AutoencoderKLQwenImage, QwenImageLayeredPipeline, QwenImageTransformer2DModel

    from strata.engines.qwen_parts import tiny

    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            transformer = QwenImageTransformer2DModel(**TRANSFORMER)
            vae = AutoencoderKLQwenImage(**VAE)
    finally:
        torch.set_default_dtype(previous)
    _small_random_init(transformer)
    tokenizer = tiny.build_tokenizer()
    encoder = tiny.build_text_encoder(tokenizer, hidden_size=3584, heads=28, kv_heads=4, layers=1)
    pipe = QwenImageLayeredPipeline(
        scheduler=tiny.build_scheduler(),
        vae=vae.to(torch.bfloat16),
        text_encoder=encoder.to("cuda", torch.bfloat16),
        tokenizer=tokenizer,
        processor=None,
        transformer=transformer.to(torch.bfloat16),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _small_random_init(model: Any) -> None:
    """N(0, 0.02) weights keep 60 random blocks finite in bf16 (default init overflows)."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 0.02)
                if module.bias is not None:
                    module.bias.zero_()


class ForwardTimer:
    """CUDA events around every transformer forward; seconds per forward after the run."""

    def __init__(self, transformer: Any) -> None:
        import torch

        self.pairs: list[tuple[Any, Any]] = []
        self._event = lambda: (
            torch.cuda.Event(enable_timing=True) if torch.cuda.is_available() else _WallEvent()
        )
        self._handles = [
            transformer.register_forward_pre_hook(self._start),
            transformer.register_forward_hook(self._stop),
        ]

    def _start(self, *_: Any) -> None:
        start = self._event()
        start.record()
        self.pairs.append((start, None))

    def _stop(self, *_: Any) -> None:
        stop = self._event()
        stop.record()
        self.pairs[-1] = (self.pairs[-1][0], stop)

    def seconds(self) -> list[float]:
        return [start.elapsed_time(stop) / 1000 for start, stop in self.pairs if stop is not None]

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


class _WallEvent:
    """The CPU stand-in for a CUDA event (smoke runs only)."""

    def record(self) -> None:
        self.at = time.perf_counter()

    def elapsed_time(self, other: _WallEvent) -> float:
        return (other.at - self.at) * 1000


def flop_per_forward(text_tokens: int, layers: int = 4, resolution: int = 640) -> float:
    """docs/qwen-image-layered.md §6.2: 13.59 GFLOP per token of linear work plus 4·S²·3072·60 attention."""
    image_tokens = (layers + 2) * (resolution // 16) ** 2
    sequence = image_tokens + text_tokens
    return sequence * 13.59e9 + 4 * sequence**2 * 3072 * 60


def measure(name: str, run: Callable[[int], list[np.ndarray]], pipe: Any, steps: int) -> dict[str, Any]:
    """Run once to warm up (2 steps), then ``steps`` steps timed; returns the figures and the layers."""
    import torch

    cuda = torch.cuda.is_available()
    started = time.perf_counter()
    run(2)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    warmup = time.perf_counter() - started
    timer = ForwardTimer(pipe.transformer)
    started = time.perf_counter()
    layers = run(steps)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    timer.close()
    forwards = timer.seconds()
    per_forward = statistics.median(forwards)
    per_step = sum(forwards) / steps
    return {
        "name": name,
        "steps": steps,
        "warmup_s": warmup,
        "forwards": len(forwards),
        "s_per_forward": per_forward,
        "s_per_step": per_step,
        "e2e_s": wall,
        "e2e_50_s": wall + (50 - steps) * per_step,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "tflops_vs_204": REFERENCE_TFLOP / per_forward,
        "layers": layers,
    }


def stock_runner(pipe: Any, image: Image.Image, seed: int) -> Callable[[int], list[np.ndarray]]:
    import torch

    def run(steps: int) -> list[np.ndarray]:
        out = pipe(
            image=image, prompt=PROMPT, negative_prompt=" ", true_cfg_scale=4.0, layers=4,
            num_inference_steps=steps, resolution=640, cfg_normalize=True, use_en_prompt=True,
            generator=torch.Generator("cpu").manual_seed(seed),
        )  # fmt: skip
        return [np.asarray(layer) for layer in out.images[0]]

    return run


def engine_runner(engine: Any, image: Image.Image, seed: int, accelerators: dict[str, Any]) -> Callable:
    def run(steps: int) -> list[np.ndarray]:
        options = {"prompt": PROMPT, "steps": steps, "seed": seed, "width": 640, "height": 640}
        stack = engine.decompose(image, 4, {**options, "accelerators": accelerators})
        run.metadata = stack.metadata  # type: ignore[attr-defined]
        return [np.asarray(layer) for layer in stack.layers]

    return run


Variant = tuple[str, dict[str, Any], dict[str, Any]]


def eager_variants(args: argparse.Namespace) -> list[Variant]:
    """(name, levers, accelerators): PyTorch SDPA, then each requested attention backend; nothing else."""
    return [
        (f"engine eager {backend or 'sdpa'}", {"attention_backend": backend, "compile": False}, {})
        for backend in [None, *args.backends]
    ]


def cache_variants(backend: str | None) -> list[Variant]:
    """Each step cache on the fastest eager configuration: their speed-up is theirs alone."""
    levers = {"attention_backend": backend, "compile": False}
    return [
        (f"engine eager {backend or 'sdpa'} + {cache}", levers, {cache: True, key: value})
        for cache, key, value in (
            ("fb_cache", "fb_cache_threshold", 0.3),
            ("tea_cache", "tea_cache_distance", 0.2),
            ("db_cache", "db_cache_threshold", 0.3),
        )
    ]


def compiled_variants(backend: str | None) -> list[Variant]:
    """Regional compile on the fastest eager backend, then with the GELU epilogue too (the default)."""
    levers = {"attention_backend": backend, "compile": True}
    name = f"engine compiled {backend or 'sdpa'}"
    return [(name, levers, {}), (f"{name} + GELU epilogue", {**levers, "fuse_gelu": True}, {})]


def fastest_backend(results: list[dict[str, Any]], eager: list[Variant]) -> str | None:
    timed = {row["name"]: row["s_per_forward"] for row in results if "s_per_forward" in row}
    candidates = [(timed[name], levers["attention_backend"]) for name, levers, _ in eager if name in timed]
    return min(candidates, key=lambda pair: pair[0])[1] if candidates else None


def run_variant(variant: Variant, pipe: Any, image: Image.Image, args: argparse.Namespace) -> dict[str, Any]:
    """Time one engine configuration on the shared weights; errors become a row, not a crash."""
    import torch

    from strata.engines.qwen import QwenEngine
    from strata.engines.qwen_parts.loading import LoadSettings

    name, levers, accelerators = variant
    try:
        torch._dynamo.reset()
        pipe.transformer.set_attention_backend(levers["attention_backend"] or "native")
        device, dtype = ("cpu", "float32") if args.smoke else ("cuda", "bfloat16")
        settings = LoadSettings(
            path=None,  # type: ignore[arg-type]
            device=device,
            dtype=dtype,
            compile=levers["compile"],
            fuse_gelu=levers.get("fuse_gelu", False),  # once swapped in, it stays: it comes last
        )
        run = engine_runner(QwenEngine.from_pipeline(pipe, settings), image, args.seed, accelerators)
        row = measure(name, run, pipe, args.steps)
        row["forwards_computed"] = run.metadata["forwards_computed"]
        row["forwards_reused"] = run.metadata["forwards_reused"]
        return row
    except Exception as exc:  # one failing lever must not hide the others' figures
        traceback.print_exc()
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps (>= 10), extrapolated to 50")
    parser.add_argument("--seed", type=int, default=777)
    parser.add_argument(
        "--backends", nargs="*", default=["_native_cudnn", "_native_flash", "_native_efficient"]
    )
    parser.add_argument("--caches", action="store_true", help="also time fb/tea/db step caches")
    parser.add_argument("--json", help="write the figures here (rewritten after every configuration)")
    parser.add_argument("--profile", metavar="FILE", help="then profile the last configuration's kernels")
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU: checks the script only")
    args = parser.parse_args()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        print("qwen_gpu: no CUDA device; this benchmark needs a GPU (or --smoke)", file=sys.stderr)
        return 2
    if args.steps < 10:
        parser.error("--steps must be >= 10")
    from strata.engines.qwen_parts import tiny

    pipe = tiny.build_pipeline() if args.smoke else build_pipeline()
    image = Image.new("RGBA", (1024, 1024), (200, 220, 240, 255))
    report = Report(args, pipe)
    report.add(measure("stock diffusers", stock_runner(pipe, image, args.seed), pipe, args.steps))
    eager = eager_variants(args)
    for variant in eager:
        report.add(run_variant(variant, pipe, image, args))
    best = fastest_backend(report.rows, eager)
    later = (cache_variants(best) if args.caches else []) + compiled_variants(best)
    for variant in later:
        report.add(run_variant(variant, pipe, image, args))
    if args.profile:
        from strata.engines.qwen import QwenEngine

        profile_kernels(engine_runner(QwenEngine.from_pipeline(pipe), image, args.seed, {}), args.profile)
    return 0


def profile_kernels(run: Callable[[int], list[np.ndarray]], path: str) -> None:
    """The last configuration's GPU kernels over a one-step run (two forwards), by total time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        run(1)
    order = "cuda_time_total" if cuda else "cpu_time_total"
    table = prof.key_averages().table(sort_by=order, row_limit=30, max_name_column_width=70)
    print(table, flush=True)
    with open(path, "w") as handle:
        handle.write(table)


def max_difference(layers: list[np.ndarray], reference: list[np.ndarray]) -> int:
    """Largest absolute uint8 difference over all layers and channels."""
    return int(
        max(np.abs(a.astype(int) - b.astype(int)).max() for a, b in zip(layers, reference, strict=True))
    )


def text_tokens(pipe: Any) -> int:
    """Text tokens the transformer sees for PROMPT: the templated prompt minus the dropped prefix."""
    templated = pipe.prompt_template_encode.format(PROMPT)
    return len(pipe.tokenizer(templated).input_ids) - pipe.prompt_template_encode_start_idx


def kernel_rates(sequence: int) -> dict[str, float]:
    """The ceilings in the same run: bf16 TFLOP/s of an 8192³ product, of the workload's MLP product
    (sequence × 3072 × 12288), and of joint attention (24 heads × 128, unmasked) per SDPA kernel."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def rate(flop: float, call: Callable[[], Any], repeats: int = 10) -> float:
        for _ in range(3):
            call()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            call()
        stop.record()
        torch.cuda.synchronize()
        return flop * repeats / (start.elapsed_time(stop) / 1000) / 1e12

    bf16 = {"device": "cuda", "dtype": torch.bfloat16}
    square = torch.randn(8192, 8192, **bf16)
    tokens, up = torch.randn(sequence, 3072, **bf16), torch.randn(3072, 12288, **bf16)
    rates = {
        "matmul_8192": rate(2 * 8192**3, lambda: square @ square),
        "matmul_mlp": rate(2 * sequence * 3072 * 12288, lambda: tokens @ up),
    }
    q, k, v = (torch.randn(1, 24, sequence, 128, **bf16) for _ in range(3))
    for name, kernel in (
        ("attention_cudnn", SDPBackend.CUDNN_ATTENTION),
        ("attention_flash", SDPBackend.FLASH_ATTENTION),
        ("attention_efficient", SDPBackend.EFFICIENT_ATTENTION),
    ):
        try:
            with sdpa_kernel([kernel]):
                call = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)  # noqa: E731
                rates[name] = rate(4 * sequence**2 * 128 * 24, call)
        except RuntimeError as exc:
            print(f"{name}: not available ({exc})", file=sys.stderr)
    return {key: round(value, 1) for key, value in rates.items()}


class Report:
    """Prints each configuration's row as it finishes and rewrites the JSON file every time."""

    COLUMNS = ("warmup", "s/fwd", "s/step", "e2e", "e2e@50", "peakGiB", "TF/s", "speedup", "maxdiff")

    def __init__(self, args: argparse.Namespace, pipe: Any) -> None:
        import torch

        self.args, self.rows = args, []
        tokens = text_tokens(pipe)
        cuda = torch.cuda.is_available()
        self.header = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name() if cuda else "cpu (smoke run)",
            "torch": torch.__version__,
            "steps_timed": args.steps,
            "text_tokens": tokens,
            "tflop_per_forward_this_prompt": flop_per_forward(tokens) / 1e12,
        }
        if cuda:  # a failing probe must not cost the pipeline figures
            try:
                self.header["kernel_tflops"] = kernel_rates(6 * 1600 + tokens)
            except Exception as exc:
                self.header["kernel_tflops"] = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(self.header), flush=True)
        print(f"{'config':46} " + " ".join(f"{c:>8}" for c in self.COLUMNS), flush=True)

    def add(self, row: dict[str, Any]) -> None:
        stock = self.rows[0] if self.rows else row
        if "layers" in row and "layers" in stock:
            row["max_abs_diff_vs_stock"] = max_difference(row["layers"], stock["layers"])
        self.rows.append(row)
        if "error" in row:
            print(f"{row['name']:46} FAILED {row['error']}", flush=True)
        else:
            speedup = stock["e2e_50_s"] / row["e2e_50_s"]
            figures = (
                row["warmup_s"],
                row["s_per_forward"],
                row["s_per_step"],
                row["e2e_s"],
                row["e2e_50_s"],
            )
            print(
                f"{row['name']:46} "
                + " ".join(f"{value:8.3f}" for value in figures)
                + f" {row['peak_gib']:8.1f} {row['tflops_vs_204']:8.0f} {speedup:7.2f}x"
                f" {row['max_abs_diff_vs_stock']:8d}"
                + (
                    f"  reused {row['forwards_reused']}/{row['forwards']}"
                    if row.get("forwards_reused")
                    else ""
                ),
                flush=True,
            )
        if self.args.json:
            rows = [{k: v for k, v in kept.items() if k != "layers"} for kept in self.rows]
            with open(self.args.json, "w") as handle:
                json.dump({**self.header, "results": rows}, handle, indent=2)


if __name__ == "__main__":
    raise SystemExit(main())
