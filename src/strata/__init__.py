"""strata: image layer decomposition.

>>> import strata
>>> stack = strata.decompose("examples/poster.png", layers=4)  # doctest: +SKIP
>>> stack.composite().save("same-as-input.png")  # doctest: +SKIP
"""

from strata.errors import StrataError
from strata.layers import LayerStack
from strata.library import decompose, open_layers

__all__ = ["LayerStack", "StrataError", "__version__", "decompose", "open_layers"]
__version__ = "0.1.0"
