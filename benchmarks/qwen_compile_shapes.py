"""Regional compile of the Qwen-Image-Layered blocks: static shapes against automatic dynamic shapes.

A server sees prompts of many lengths, and CFG's negative prompt has another length than the prompt.
This times, on the full-size random-weight model of ``qwen_gpu.py`` (640 px, 4 layers, CFG, GELU
epilogue), each compile mode with the benchmark prompt and then with a prompt of another token count:
the warm-up column of the second row is what a new prompt length costs (a recompile or none), and
seconds per forward show whether the graph that serves every length is slower.

    python benchmarks/qwen_compile_shapes.py
"""

from __future__ import annotations

import sys

from PIL import Image

import qwen_gpu

#: 223 text tokens with the benchmark tokenizer, against the benchmark prompt's 201.
OTHER_PROMPT = (
    "A flat poster with a green field, two grey boxes and a tall yellow tree on the left side of it."
)


def main() -> int:
    import torch

    from strata.engines.qwen import QwenEngine
    from strata.engines.qwen_parts.loading import LoadSettings

    if not torch.cuda.is_available():
        print("qwen_compile_shapes: needs a CUDA device", file=sys.stderr)
        return 2
    pipe = qwen_gpu.build_pipeline()
    image = Image.new("RGBA", (1024, 1024), (200, 220, 240, 255))
    settings = LoadSettings(path=None, device="cuda", dtype="bfloat16", compile=False, fuse_gelu=True)  # type: ignore[arg-type]
    engine = QwenEngine.from_pipeline(pipe, settings)

    def timed(name: str, prompt: str) -> None:
        def run(steps: int) -> list:
            options = {"prompt": prompt, "steps": steps, "seed": 777, "width": 640, "height": 640}
            engine.decompose(image, 4, options)
            return []

        row = qwen_gpu.measure(name, run, pipe, 10)
        print(
            f"{name:44} warm {row['warmup_s']:6.1f} s/fwd {row['s_per_forward']:.4f} "
            f"e2e50 {row['e2e_50_s']:.2f}",
            flush=True,
        )

    for dynamic in (False, None):
        torch._dynamo.reset()
        pipe.transformer.compile_repeated_blocks(fullgraph=False, dynamic=dynamic)
        timed(f"compiled dynamic={dynamic}", qwen_gpu.PROMPT)
        timed(f"compiled dynamic={dynamic}, new prompt length", OTHER_PROMPT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
