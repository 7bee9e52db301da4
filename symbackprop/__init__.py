"""symbackprop: backpropagation derived symbolically, proven and written out.

>>> import symbackprop as sbp
>>> d = sbp.derive(sbp.Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
>>> len(d.params)
8
"""

from .proof.chain import Derivation, Step, derive
from .claims.verdicts import check_document, check_formula
from .errors import SpecError
from .proof.general import derive_general
from .numbers import worked_example
from .model.spec import Layer, Network
from .model.layers import LayeredNetwork
from .proof.layered import derive_layered

__all__ = ["Derivation", "Layer", "LayeredNetwork", "Network", "SpecError", "Step", "check_document", "check_formula",
           "derive", "derive_general", "derive_layered", "worked_example"]
__version__ = "0.1.0"
