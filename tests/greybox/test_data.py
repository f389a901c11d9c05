"""The attacker's datasets from folders of videos: aux cut to size, labeled fraction stratified and seed-fixed."""

import pytest
import torch

from vidsteal.attacks.greybox import GreyboxData, load_aux, load_labeled
from vidsteal.data.decode import encode_video


def clip(seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (6, 3, 24, 24), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.fixture
def folders(tmp_path):
    for i in range(3):
        encode_video(tmp_path / "aux" / "nested" / f"v{i}.mp4", clip(i), fps=6)
    for c, name in enumerate(("square_cw", "square_ccw")):
        for i in range(4):
            encode_video(tmp_path / "labeled" / name / f"v{i}.mp4", clip(10 * c + i), fps=6)
    return tmp_path


def test_folders_decode_to_the_victims_geometry(folders, tiny_bench):
    bench = tiny_bench.model_copy(update={"shapes": ("square",), "motions": ("cw", "ccw")})
    cfg = GreyboxData(benchmark=bench, aux=str(folders / "aux"), aux_size=2, labeled=str(folders / "labeled"),
                      labeled_fraction=0.5)
    aux = load_aux(cfg, seed=0)
    x, y = aux[0]
    assert len(aux) == 2 and y == -1 and x.shape == (bench.frames, 3, bench.size, bench.size) and x.dtype == torch.uint8
    labeled = load_labeled(cfg, seed=1, categories=["square_ccw", "square_cw"])
    assert labeled.labels.bincount().tolist() == [2, 2]
    assert torch.equal(load_labeled(cfg, seed=1).clips, labeled.clips)  # fixed by the seed
    with pytest.raises(ValueError, match="do not match"):
        load_labeled(cfg, seed=1, categories=["a", "b", "c"])


def test_cutmix_aux_is_fixed_by_seed_and_mixes_the_asked_share(tiny_bench):
    from vidsteal.attacks.greybox.data import CutMixAux
    from vidsteal.data.embedded import make_auxiliary

    base = make_auxiliary(tiny_bench, 40, seed=0)
    mixed, again = CutMixAux(base, 0.5, seed=3), CutMixAux(base, 0.5, seed=3)
    changed = [i for i in range(len(base)) if not torch.equal(mixed[i][0], base[i][0])]
    assert len(mixed) == 40 and 16 <= len(changed) <= 20 and all(i % 2 == 1 for i in changed)  # every other clip
    assert all(torch.equal(mixed[i][0], again[i][0]) for i in range(40))  # a re-run pays for the same clips
    diff = (mixed[changed[0]][0] != base[changed[0]][0]).any(dim=(0, 1))  # (H, W): where the pasted box is
    rows, cols = diff.any(1).nonzero().flatten(), diff.any(0).nonzero().flatten()
    assert diff.sum() <= (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) <= (16 // 2) ** 2
    assert not any(torch.equal(CutMixAux(base, 0.0)[i][0], mixed[i][0]) for i in changed)


def test_aux_family_reaches_the_data_and_old_saved_configs_read_as_abstract():
    from vidsteal.data.embedded import make_auxiliary
    from vidsteal.data.synthetic import BenchmarkConfig

    bench = BenchmarkConfig(frames=4, size=16)
    for family in ("objects", "abstract"):
        cfg = GreyboxData(benchmark=bench, aux_size=6, aux_family=family)
        assert torch.equal(load_aux(cfg, seed=2).clips, make_auxiliary(bench, 6, 2, family).clips)
    assert GreyboxData(aux_size=6).aux_family == "auto"  # what users write keeps today's default
    saved = GreyboxData(aux_family="abstract").model_dump(mode="json")
    saved.pop("aux_family")  # a run folder written before the field existed
    assert GreyboxData.model_validate(saved).aux_family == "abstract"
