"""The identity of a clip: one sha256 that the attacker's query ledger and the server's query log both write.

A clip is hashed in its canonical 8-bit form, uint8 ``(T, C, H, W)`` as in the dataset contract, quantized from
float model input by :func:`vidsteal.data.clips.to_uint8_clips` (clamp to ``[0, 1]``, times 255, round half to
even). That is the form a :class:`~vidsteal.victims.logged.LoggedOracle` stores and sends by default, so the
hash in its ledger equals the hash the vidsteal server logs for the same query, and an attacker's ledger can be
matched line by line against the victim's log. A float32 ledger (``quantize=False``, for attacks whose queries
differ by less than 1/255) keys its own index by the float32 bytes, which tell such clips apart; its clips still
map to the server's hashes through :func:`clip_hashes` of the replayed clips.
"""

from __future__ import annotations

import hashlib

import torch

from vidsteal.data.clips import to_uint8_clips


def clip_hash(stored: torch.Tensor) -> bytes:
    """sha256 over dtype, shape and bytes of one clip in stored form: the identity of a query."""
    stored = stored.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{stored.dtype}|{tuple(stored.shape)}|".encode())
    digest.update(stored.numpy())
    return digest.digest()


def clip_hashes(clips: torch.Tensor) -> list[bytes]:
    """The identity of each float clip ``(B, C, T, H, W)`` in ``[0, 1]``: :func:`clip_hash` of its 8-bit form."""
    return [clip_hash(clip) for clip in to_uint8_clips(clips)]
