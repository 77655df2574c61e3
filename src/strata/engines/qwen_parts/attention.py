"""Joint text-image attention for the Qwen-Image transformer, shaped for torch.compile.

diffusers' processor rotates queries and keys (RoPE) as complex numbers. Inductor generates no code
for complex tensors, so in a compiled block the rotation runs as eager kernels: the query/key RMS
norm writes fp32, a complex multiply reads and writes it, a cast writes bf16, and the joint [text,
image] concatenation reads it once more. :class:`JointAttention` rotates real pairs instead,
``(a, b) -> (a·cos − b·sin, a·sin + b·cos)`` in fp32 on the same values, and ends the compiled graph
after the norms: the norm stays one short kernel that writes bf16, and the rotation fuses into the
concatenation that follows (left in one graph, inductor fuses norm and rotation into a slow looped
reduction instead; both measured in ``docs/performance.md``). Everything else is what the stock
processor does, so adapters (LoRA) and step caches see the same modules.
"""

from __future__ import annotations

from typing import Any


def rotate(x: Any, freqs: Any) -> Any:
    """RoPE on ``x`` (batch, tokens, heads, head_dim) by ``freqs`` (tokens, head_dim/2), complex."""
    import torch

    angle = torch.view_as_real(freqs)[:, None]  # (tokens, 1, head_dim/2, [cos, sin])
    cos, sin = angle[..., 0], angle[..., 1]
    even, odd = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    turned = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return turned.flatten(-2).type_as(x)


class JointAttention:
    """Attention processor for ``QwenImageTransformer2DModel``; returns (image, text) outputs."""

    _attention_backend: Any = None
    _parallel_config: Any = None

    def __call__(
        self,
        attn: Any,
        hidden_states: Any,
        encoder_hidden_states: Any = None,
        encoder_hidden_states_mask: Any = None,
        attention_mask: Any = None,
        image_rotary_emb: Any = None,
    ) -> tuple[Any, Any]:
        import torch
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        if encoder_hidden_states is None or attention_mask is not None:
            raise ValueError("joint attention needs the text stream and builds its own mask")
        head_dim = attn.inner_dim // attn.heads

        def heads(projection: Any, states: Any, norm: Any = None) -> Any:
            split = projection(states).unflatten(-1, (-1, head_dim))
            return split if norm is None else norm(split)

        text = [
            heads(attn.add_q_proj, encoder_hidden_states, attn.norm_added_q),
            heads(attn.add_k_proj, encoder_hidden_states, attn.norm_added_k),
            heads(attn.add_v_proj, encoder_hidden_states),
        ]
        image = [
            heads(attn.to_q, hidden_states, attn.norm_q),
            heads(attn.to_k, hidden_states, attn.norm_k),
            heads(attn.to_v, hidden_states),
        ]
        if image_rotary_emb is not None:
            torch._dynamo.graph_break()  # see the module docstring; a no-op when not compiling
            image_freqs, text_freqs = image_rotary_emb
            text[:2] = [rotate(t, text_freqs) for t in text[:2]]
            image[:2] = [rotate(t, image_freqs) for t in image[:2]]
        mask = None
        if encoder_hidden_states_mask is not None:  # padded prompts only; image tokens always attend
            image_mask = encoder_hidden_states_mask.new_ones(hidden_states.shape[:2], dtype=torch.bool)
            mask = torch.cat([encoder_hidden_states_mask.bool(), image_mask], dim=1)[:, None, None, :]
        query, key, value = (torch.cat(pair, dim=1) for pair in zip(text, image, strict=True))
        joint = dispatch_attention_fn(
            query,
            key,
            value,
            attn_mask=mask,
            backend=self._attention_backend,
            parallel_config=self._parallel_config,
        )
        joint = joint.flatten(2, 3).to(query.dtype)
        text_tokens = encoder_hidden_states.shape[1]
        image_out = attn.to_out[0](joint[:, text_tokens:].contiguous())
        for extra in attn.to_out[1:]:  # dropout, an identity at inference
            image_out = extra(image_out)
        return image_out, attn.to_add_out(joint[:, :text_tokens].contiguous())


def use_joint_attention(transformer: Any) -> None:
    """Swap every attention processor of ``transformer`` for :class:`JointAttention`, keeping its backend."""
    backend = next(iter(transformer.attn_processors.values()))._attention_backend
    processor = JointAttention()
    transformer.set_attn_processor(processor)
    processor._attention_backend = backend
