"""An independent, deliberately literal re-implementation of the official CVPR24 LiteMedSAM inference
procedure (2D and the 3D slice chaining; docs protocols.md "Model input pipelines" and "3D handling"),
used only as the yardstick of the samwidgets tests. It shares the network weights with samwidgets and
nothing else: its own resize, normalisation, padding, box scaling, decoding and postprocessing.

2D: resize longest side to 256 (INTER_AREA, size int(dim * scale + 0.5)), min-max to [0, 1] (denominator
clipped at 1e-8), pad bottom/right to 256, encoder, box * 256 / max(H, W) truncated to int, one-mask
decode, logits cropped to the resized size, bilinear to (H, W), sigmoid > 0.5.

3D: z_mid = int((z_max - z_min) / 2 + z_min); up z_mid .. z_max, down z_mid - 1 .. z_min (inclusive);
every slice re-encoded (per box); the next box is the bounding box of the previous slice's mask resized
to 256 and padded, widened by 3 px; an empty resized previous mask falls back to the middle box.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def ref_input(img2d: np.ndarray):
    img3 = np.repeat(img2d[:, :, None], 3, axis=-1) if img2d.ndim == 2 else img2d
    old_h, old_w = img3.shape[:2]
    scale = 256 * 1.0 / max(old_h, old_w)
    new_w, new_h = int(old_w * scale + 0.5), int(old_h * scale + 0.5)
    small = cv2.resize(img3, (new_w, new_h), interpolation=cv2.INTER_AREA)
    small = (small - small.min()) / np.clip(small.max() - small.min(), a_min=1e-8, a_max=None)
    padded = np.pad(small, ((0, 256 - new_h), (0, 256 - new_w), (0, 0)))
    return torch.tensor(padded).float().permute(2, 0, 1).unsqueeze(0), (new_h, new_w)


def ref_box256(box, size_hw):
    ratio = 256 / max(size_hw)
    out = np.zeros(4, dtype=np.float64)
    for i in range(4):
        out[i] = int(box[i] * ratio)
    return out


@torch.no_grad()
def ref_decode(net, embed, box256, new_size, original_size):
    box_t = torch.as_tensor(box256[None, None, ...], dtype=torch.float)
    sparse, dense = net.prompt_encoder(points=None, boxes=box_t, masks=None)
    low_res, _ = net.mask_decoder(image_embeddings=embed, image_pe=net.prompt_encoder.get_dense_pe(),
                                  sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                  multimask_output=False)
    low_res = low_res[..., : new_size[0], : new_size[1]]
    up = F.interpolate(low_res, size=tuple(original_size), mode="bilinear", align_corners=False)
    return (torch.sigmoid(up).squeeze().numpy() > 0.5)


@torch.no_grad()
def ref_predict(net, img2d, box):
    x, new_size = ref_input(img2d)
    embed = net.image_encoder(x)
    return ref_decode(net, embed, ref_box256(box, img2d.shape[:2]), new_size, img2d.shape[:2]), embed


def ref_get_bbox256(mask_256, bbox_shift=3):
    y_indices, x_indices = np.where(mask_256 > 0)
    x_min, x_max = np.min(x_indices), np.max(x_indices)
    y_min, y_max = np.min(y_indices), np.max(y_indices)
    h, w = mask_256.shape
    x_min = max(0, x_min - bbox_shift)
    x_max = min(w, x_max + bbox_shift)
    y_min = max(0, y_min - bbox_shift)
    y_max = min(h, y_max + bbox_shift)
    return np.array([x_min, y_min, x_max, y_max])


def _resize_mask_256(mask):
    old_h, old_w = mask.shape[:2]
    scale = 256 * 1.0 / max(old_h, old_w)
    new_w, new_h = int(old_w * scale + 0.5), int(old_h * scale + 0.5)
    return cv2.resize(mask, (new_w, new_h), interpolation=cv2.INTER_AREA)


def _pad_256(image):
    h, w = image.shape[:2]
    return np.pad(image, ((0, 256 - h), (0, 256 - w)))


def reference_3d(net, encode_fn, img_3d, box3d):
    """CVPR24 3D inference for ONE box (label value 1); ``encode_fn(x)`` runs the image encoder on the
    reference input tensor (1, 3, 256, 256). Returns (D, H, W) uint8."""
    segs = np.zeros_like(img_3d[..., 0] if img_3d.ndim == 4 else img_3d, dtype=np.uint8)
    x_min, y_min, z_min, x_max, y_max, z_max = [int(v) for v in box3d]
    mid_box = np.array([x_min, y_min, x_max, y_max])
    z_middle = int((z_max - z_min) / 2 + z_min)

    def one_slice(z, neighbour):
        img_2d = img_3d[z]
        x, new_size = ref_input(img_2d)
        h, w = img_2d.shape[:2]
        embed = encode_fn(x)  # re-encoded every time, as the reference script does
        if neighbour is None:
            box_256 = ref_box256(mid_box, (h, w))
        else:
            pre_seg256 = _resize_mask_256(segs[neighbour])
            if np.max(pre_seg256) > 0:
                box_256 = ref_get_bbox256(_pad_256(pre_seg256)).astype(np.float64)
            else:
                box_256 = ref_box256(mid_box, (h, w))
        seg = ref_decode(net, embed, box_256, new_size, (h, w))
        segs[z, seg > 0] = 1

    for z in range(z_middle, min(z_max + 1, segs.shape[0])):
        one_slice(z, None if z == z_middle else z - 1)
    for z in range(z_middle - 1, max(-1, z_min - 1), -1):
        one_slice(z, z + 1)
    return segs
