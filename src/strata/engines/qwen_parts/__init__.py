"""The pieces of the ``qwen`` engine, one concept per module.

``options`` validates a request, ``loading`` finds and loads the checkpoint, ``schedulers`` maps API
scheduler names, ``captions`` is the auto-caption stage, ``lora`` applies adapters per request,
``caching`` and ``teacache`` are the step-caching accelerators, ``canvas`` resizes the layers back to
the output canvas and ``tiny`` writes a toy checkpoint for tests and smoke runs. Nothing here imports
torch, diffusers or transformers at module level.
"""
