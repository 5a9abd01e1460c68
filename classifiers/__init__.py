"""Chinese text classification: sentiment, risk categories and severity tiers.

No I/O here except loading (and saving) the model artifact.  The pieces:

* :mod:`.tokenize` - jieba (or rjieba, parity-tested) with brand words;
* :mod:`.features` - normalisation and numpy feature hashing of char n-grams;
* :mod:`.model` - the shipped linear sentiment model (``model/``, npz + JSON);
* :mod:`.categories` - weighted risk lexicons (``lexicons/categories.json``);
* :mod:`.tiers` - the P1-P4 formula and its :class:`TierPolicy`;
* :mod:`.overlay` - manager corrections and the overlay they make (plain values, ``overlay.json``);
* :mod:`.adapt` - learning that overlay on the base model, and loading a model with it;
* :mod:`.train`, :mod:`.corpora`, :mod:`.scores`, :mod:`.protocol` - training and evaluation;
* :mod:`.encoder` - the optional encoder second stage (extra ``encoder``, off by default).
"""

from .adapt import adapt, load_adapted
from .categories import CATEGORIES, Lexicon
from .classifier import OFFICIAL_REASON, Classification, Classifier, Signals
from .errors import ClassifierError, InvalidCorrectionError, ModelNotFoundError, ModelVersionError
from .overlay import Correction, Overlay, load_overlay, save_overlay
from .tiers import TierPolicy

__all__ = [
    "CATEGORIES",
    "OFFICIAL_REASON",
    "Classification",
    "Classifier",
    "ClassifierError",
    "Correction",
    "InvalidCorrectionError",
    "Lexicon",
    "ModelNotFoundError",
    "ModelVersionError",
    "Overlay",
    "Signals",
    "TierPolicy",
    "adapt",
    "load_adapted",
    "load_overlay",
    "save_overlay",
]
