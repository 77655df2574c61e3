"""The transformer MLP's tanh-GELU computed inside its GEMM (the cuBLASLt GELU+bias epilogue) on CUDA.

Each of the 60 blocks runs two MLPs whose first projection (3072 -> 12288) is followed by
``gelu(approximate="tanh")``. diffusers writes the projection (236 MB in bf16 for 9,600 image
tokens), then reads it back for the GELU and writes it again: a separate kernel of about 0.16 ms per
block on an H200 (``docs/performance.md``). ``torch._addmm_activation(..., use_gelu=True)`` applies the
same tanh approximation to the fp32 accumulator before the GEMM stores bf16, so the separate pass
disappears. The parameters stay where they were (``net.0.proj``), so checkpoints and LoRA adapters
address the same names; a projection wrapped by an adapter takes the ordinary path. Off CUDA the
same GEMM is followed by a separate tanh GELU (PyTorch's CPU epilogue computes the exact, erf GELU).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional


class GemmGelu(torch.nn.Module):
    """``gelu(proj(x), approximate="tanh")``, with the GELU in the GEMM's epilogue where possible."""

    def __init__(self, proj: torch.nn.Module) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = self.proj
        if type(proj) is not torch.nn.Linear or proj.bias is None:  # e.g. wrapped by an adapter
            return functional.gelu(proj(x), approximate="tanh")
        flat = x.reshape(-1, x.shape[-1])
        if x.is_cuda:
            out = torch._addmm_activation(proj.bias, flat, proj.weight.t(), use_gelu=True)
        else:  # PyTorch's CPU epilogue computes the exact (erf) GELU, not the model's tanh one
            out = functional.gelu(torch.addmm(proj.bias, flat, proj.weight.t()), approximate="tanh")
        return out.view(*x.shape[:-1], out.shape[-1])


def fuse_gelu(transformer: Any) -> int:
    """Swap every tanh-GELU projection of ``transformer``'s MLPs for :class:`GemmGelu`; returns how many."""
    from diffusers.models.activations import GELU
    from diffusers.models.attention import FeedForward

    swapped = 0
    for module in transformer.modules():
        if isinstance(module, FeedForward):
            first = module.net[0]
            if type(first) is GELU and first.approximate == "tanh":
                module.net[0] = GemmGelu(first.proj)
                swapped += 1
    return swapped
