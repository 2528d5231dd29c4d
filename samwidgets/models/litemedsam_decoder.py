"""LiteMedSAM's mask decoder (segment-anything ``MaskDecoder`` + ``TwoWayTransformer``, one mask output)
re-arranged for the CPU: same weights, same maths, fewer FLOPs and no large layout copies.

Used only for the ONNX Runtime export (:mod:`samwidgets.models.onnx_decoder`); ``backend="torch"`` runs
the vendored module unchanged. The rearrangements are exact in real arithmetic; in float32 the logits
stay within ~1e-4 of the eager module (tests/models/test_litemedsam.py checks it on the CT lesion cases).

Split in two steps (N = 64 * 64 image tokens, C = 256 channels, T = 5 output tokens + prompt tokens):

``prepare(image_embed (1, C, 64, 64), dense (1, C, 64, 64))`` -> image-side tensors that do not depend on
the sparse prompt (computed once per embedding when there is no mask prompt; the dense embedding then is
the constant ``no_mask_embed``):
  ``src`` (N, C) = image + dense, token-major (row t = y * 64 + x);
  ``k0t`` (H, d, N) / ``v0`` (H, N, d): block 0 token->image key/value projections of src + pe / src
  (block 0's image tokens are not updated before this attention, so these are prompt independent);
  ``q0`` (H, N, d): block 0 image->token query projection of src + pe (H = 8 heads, d = 16).
Later blocks see image tokens updated by the image->token attention, so nothing else is cacheable.

``forward(src, k0t, v0, q0, sparse (1, P, C))`` -> ``low_res`` (1, 1, 256, 256) logits, ``iou`` (1, 1):
  * attention with few tokens on one side is re-associated so that no (N, C) x (C, C/2) projection of
    the image tokens is formed: token->image scores use (q_h W_k,h) x^T (the key bias adds a constant per
    query and cancels in the softmax), values use (P_h x) W_v,h^T + b_v,h (softmax rows sum to 1);
    image->token scores use x (W_q,h^T k_h^T) + b_q,h k_h^T and the output projection is folded into the
    token values: sum_h P_h (v_h W_o,h^T) + b_o;
  * output upscaling (two 2x2 stride-2 transposed convolutions, LayerNorm2d, GELU) as per-token matrix
    products in token-major order (each image token owns its 4 x 4 output pixels), LayerNorm over the
    contiguous channel axis, and the hypernetwork dot product before the one final (4 KiB-row) reorder;
  * only mask token 0 and IoU entry 0 are computed (``multimask_output=False``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TokenMajorDecoder(nn.Module):
    """See the module docstring. ``mask_decoder``: the LiteMedSAM ``MaskDecoder`` (eval, CPU);
    ``dense_pe``: (1, C, h, w) dense positional encoding of the prompt encoder."""

    def __init__(self, mask_decoder, dense_pe: torch.Tensor):
        super().__init__()
        self.md = mask_decoder
        t = mask_decoder.transformer
        if len(t.layers) != 2:
            raise ValueError("TokenMajorDecoder expects the two-block TwoWayTransformer of SAM")
        _, _, h, w = dense_pe.shape
        self.grid = (h, w)
        self.register_buffer("pe", dense_pe.detach().float().flatten(2)[0].t().contiguous().clone())  # (N, C)
        up = mask_decoder.output_upscaling
        conv1, norm, conv2 = up[0], up[1], up[3]
        # ConvTranspose2d weight (in, out, 2, 2) -> (in, 2 * 2 * out), columns ordered (a, b, out)
        self.register_buffer("w1", conv1.weight.detach().permute(0, 2, 3, 1).reshape(conv1.in_channels, -1).clone())
        self.register_buffer("b1", conv1.bias.detach().repeat(4).clone())
        self.register_buffer("w2", conv2.weight.detach().permute(0, 2, 3, 1).reshape(conv2.in_channels, -1).clone())
        self.register_buffer("b2", conv2.bias.detach().repeat(4).clone())
        self.norm_up = norm  # LayerNorm2d: weight, bias, eps over the channel axis
        self.c_mid, self.c_out = conv1.out_channels, conv2.out_channels

    # -- helpers ------------------------------------------------------------------------------------
    @staticmethod
    def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
        """(L, heads * d) -> (heads, L, d)."""
        return x.reshape(x.shape[0], heads, -1).transpose(0, 1)

    def _token_to_image(self, attn, q_tok, x_k, x_v):
        """attn(q=q_tok (T, C), k=x_k (N, C), v=x_v (N, C)) without projecting the N image tokens."""
        heads = attn.num_heads
        d = attn.internal_dim // heads
        qh = self._heads(attn.q_proj(q_tok), heads)                         # (H, T, d)
        wk = attn.k_proj.weight.reshape(heads, d, -1)                        # (H, d, C)
        a = torch.matmul(qh, wk).reshape(-1, x_k.shape[1])                   # (H*T, C)
        scores = torch.matmul(a, x_k.t()) * (1.0 / math.sqrt(d))             # (H*T, N)
        p = torch.softmax(scores, dim=-1)
        r = torch.matmul(p, x_v).reshape(heads, q_tok.shape[0], -1)          # (H, T, C)
        wv = attn.v_proj.weight.reshape(heads, d, -1)                        # (H, d, C)
        out = torch.matmul(r, wv.transpose(1, 2)) + attn.v_proj.bias.reshape(heads, 1, d)  # (H, T, d)
        return attn.out_proj(out.transpose(0, 1).reshape(q_tok.shape[0], -1))

    def _token_to_image_cached(self, attn, q_tok, kt, v):
        """Block 0 token->image attention with precomputed key (H, d, N) and value (H, N, d) projections."""
        heads = attn.num_heads
        d = attn.internal_dim // heads
        qh = self._heads(attn.q_proj(q_tok), heads)                         # (H, T, d)
        p = torch.softmax(torch.matmul(qh, kt) * (1.0 / math.sqrt(d)), dim=-1)  # (H, T, N)
        out = torch.matmul(p, v)                                             # (H, T, d)
        return attn.out_proj(out.transpose(0, 1).reshape(q_tok.shape[0], -1))

    def _image_to_token(self, attn, x_q, k_tok, v_tok, q_cached=None):
        """attn(q=x_q (N, C), k=k_tok (T, C), v=v_tok (T, C)) -> (N, C); the output projection is folded
        into the token values. q_cached: precomputed (H, N, d) query projection of x_q."""
        heads = attn.num_heads
        d = attn.internal_dim // heads
        t = k_tok.shape[0]
        kh = self._heads(attn.k_proj(k_tok), heads)                          # (H, T, d)
        scale = 1.0 / math.sqrt(d)
        if q_cached is None:
            wq = attn.q_proj.weight.reshape(heads, d, -1)                     # (H, d, C)
            b = torch.matmul(kh, wq).reshape(heads * t, -1)                  # (H*T, C)
            c = torch.matmul(kh, attn.q_proj.bias.reshape(heads, d, 1)).reshape(1, heads * t)
            scores = (torch.matmul(x_q, b.t()) + c) * scale                 # (N, H*T)
            scores = scores.reshape(-1, heads, t)
        else:
            scores = (torch.matmul(q_cached, kh.transpose(1, 2)) * scale).transpose(0, 1)  # (N, H, T)
        p = torch.softmax(scores, dim=-1).reshape(-1, heads * t)             # (N, H*T)
        vh = self._heads(attn.v_proj(v_tok), heads)                          # (H, T, d)
        wo = attn.out_proj.weight.reshape(-1, heads, d).transpose(0, 1)      # (H, C, d)
        vo = torch.matmul(vh, wo.transpose(1, 2)).reshape(heads * t, -1)     # (H*T, C)
        return torch.matmul(p, vo) + attn.out_proj.bias

    # -- steps --------------------------------------------------------------------------------------
    def prepare(self, image_embed: torch.Tensor, dense: torch.Tensor):
        """(1, C, h, w) image embedding and dense prompt embedding -> (src, k0t, v0, q0), see module doc."""
        src = (image_embed + dense).flatten(2)[0].t()                        # (N, C)
        kpe = src + self.pe
        block = self.md.transformer.layers[0]
        t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
        k0t = self._heads(t2i.k_proj(kpe), t2i.num_heads).transpose(1, 2)   # (H, d, N)
        v0 = self._heads(t2i.v_proj(src), t2i.num_heads)                    # (H, N, d)
        q0 = self._heads(i2t.q_proj(kpe), i2t.num_heads)                    # (H, N, d)
        return src.contiguous(), k0t.contiguous(), v0.contiguous(), q0.contiguous()

    def forward(self, src, k0t, v0, q0, sparse):
        md = self.md
        tr = md.transformer
        tokens = torch.cat([md.iou_token.weight, md.mask_tokens.weight, sparse[0]], dim=0)  # (T, C)
        pe = self.pe
        b0, b1 = tr.layers
        # block 0 (skip_first_layer_pe: self-attention without residual or PE)
        queries = b0.norm1(b0.self_attn(q=tokens[None], k=tokens[None], v=tokens[None])[0])
        queries = b0.norm2(queries + self._token_to_image_cached(b0.cross_attn_token_to_image, queries + tokens, k0t, v0))
        queries = b0.norm3(queries + b0.mlp(queries))
        keys = b0.norm4(src + self._image_to_token(b0.cross_attn_image_to_token, None, queries + tokens, queries,
                                                    q_cached=q0))
        # block 1
        q = queries + tokens
        queries = b1.norm1(queries + b1.self_attn(q=q[None], k=q[None], v=queries[None])[0])
        kpe = keys + pe
        queries = b1.norm2(queries + self._token_to_image(b1.cross_attn_token_to_image, queries + tokens, kpe, keys))
        queries = b1.norm3(queries + b1.mlp(queries))
        keys = b1.norm4(keys + self._image_to_token(b1.cross_attn_image_to_token, keys + pe, queries + tokens, queries))
        # final token->image attention
        queries = tr.norm_final_attn(queries + self._token_to_image(tr.final_attn_token_to_image, queries + tokens,
                                                                    keys + pe, keys))
        # upscaling in token-major order: row (t, a, b) of y1, row (t, a, b, a2, b2) of y2
        n = keys.shape[0]
        y1 = (torch.matmul(keys, self.w1) + self.b1).reshape(n * 4, self.c_mid)
        y1 = F.gelu(F.layer_norm(y1, (self.c_mid,), self.norm_up.weight, self.norm_up.bias, self.norm_up.eps))
        y2 = F.gelu(torch.matmul(y1, self.w2) + self.b2).reshape(n * 16, self.c_out)
        hyper = md.output_hypernetworks_mlps[0](queries[1:2])                 # (1, c_out)
        m = torch.matmul(y2, hyper.t())                                      # (N * 16, 1)
        h, w = self.grid
        m = m.reshape(h, w, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(1, 1, 4 * h, 4 * w)
        iou = md.iou_prediction_head(queries[0:1])[:, 0:1]                   # (1, 1)
        return m, iou
