"""One predictor API over LiteMedSAM, SAM, MedSAM and SAM2.

    predictor = samwidgets.models.load("litemedsam")           # device="auto": cuda > mps > cpu
    emb = predictor.encode(slice2d)                            # (H, W) or (H, W, 3); cached
    pred = predictor.decode(emb, box_xyxy=[x0, y0, x1, y1])    # xy pixels of the original slice

torch is imported only when a model is built.
"""

from samwidgets.models.protocol import Embedding, Prediction, Predictor
from samwidgets.models.registry import MODELS, ModelSpec, get_spec, load

__all__ = ["Embedding", "Prediction", "Predictor", "MODELS", "ModelSpec", "get_spec", "load"]
