"""The user's data: class folders and CSVs decoded for the victim, class names matched by name, never by position."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from audit_support import CLASSES, FRAMES, SIZE, write_videos

from vidsteal.data.sources import DataSpecError, resolve_aux, resolve_labeled, resolve_test_data
from vidsteal.eval.evaluate import predict
from vidsteal.models.registry import ModelCard
from vidsteal.victims.spec import resolve_victim


def _card(classes: list[str] | None = CLASSES, **update) -> ModelCard:
    return ModelCard(arch="x", num_classes=3, frames=FRAMES, size=SIZE, categories=classes).model_copy(update=update)


def test_class_folder_is_decoded_for_the_victim_and_labels_follow_its_class_order(user_victim, user_videos) -> None:
    victim = resolve_victim(user_victim)
    reordered = victim.card.model_copy(update={"categories": ["red", "green", "blue"]})  # not the folders' order
    data = resolve_test_data(user_videos, reordered)
    assert data.clips.shape == (9, FRAMES, 3, SIZE, SIZE) and data.classes == ["red", "green", "blue"]
    assert sorted(data.labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # The victim's own card: its top-1 on these videos is exact only if labels are aligned to its classes.
    test = resolve_test_data(user_videos, victim.card)
    logits, labels = predict(victim.model, test)
    assert torch.equal(logits.argmax(1), labels)
    assert len(resolve_test_data(user_videos, victim.card, size=4, seed=1)) == 4


def test_unknown_classes_are_named(tmp_path: Path) -> None:
    root = write_videos(tmp_path / "videos", per_class=1, classes=["blue", "purple", "Green"])
    with pytest.raises(DataSpecError, match="'purple'") as err:
        resolve_test_data(root, _card())
    assert "1 class(es)" in str(err.value)
    shutil.rmtree(root / "purple")
    assert resolve_test_data(root, _card()).labels.tolist() == [1, 0]  # folders Green, blue; "Green" is "green"
    with pytest.raises(DataSpecError, match="named 0..2"):
        resolve_test_data(root, _card(classes=None))


def test_kinetics_csv_with_victim_class_names(tmp_path: Path) -> None:
    root = tmp_path / "k"
    write_videos(root / "val", per_class=2)
    for path in sorted((root / "val").glob("*/*.mp4")):
        path.rename(path.with_name(f"{path.parent.name}{path.stem}_000000_000001.mp4"))
    with open(root / "val.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        for path in sorted((root / "val").glob("*/*.mp4")):
            writer.writerow([path.parent.name, path.name.split("_")[0], 0, 1, "val"])
    data = resolve_test_data(root / "val.csv", _card(classes=["red", "green", "blue"]))
    assert sorted(data.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    labeled = resolve_labeled(root / "val.csv", _card(), 0.5, seed=0)
    assert sorted(labeled.labels.tolist()) == [0, 1, 2]  # one video per class


def test_aux_folder_and_errors(tmp_path: Path, user_videos: Path) -> None:
    aux = resolve_aux(user_videos, _card(), 5, seed=0)
    clip, label = aux[0]
    assert len(aux) == 5 and clip.shape == (FRAMES, 3, SIZE, SIZE) and label == -1
    for spec, expected in [("embedded", "not trained on the embedded benchmark"), (tmp_path / "none", "does not exist"),
                           (user_videos / "red" / "0.mp4", "neither a class folder nor a .csv")]:
        with pytest.raises(DataSpecError, match=expected):
            resolve_test_data(spec, _card())
    with pytest.raises(DataSpecError, match="not a folder"):
        resolve_aux(tmp_path / "none", _card(), 5)


def test_embedded_val_is_the_validation_split() -> None:
    from vidsteal.data.embedded import make_split
    from vidsteal.data.synthetic import BenchmarkConfig

    bench = BenchmarkConfig(frames=4, size=16)
    card = ModelCard(arch="test_c3d", num_classes=len(bench.classes()), frames=4, size=16, dataset=bench.to_dict(),
                     categories=bench.classes())
    val, test = resolve_test_data("embedded:val", card, size=8), resolve_test_data("embedded", card, size=8)
    assert torch.equal(val.clips, make_split(bench, "val", 8).clips)
    assert torch.equal(test.clips, make_split(bench, "test", 8).clips) and not torch.equal(val.clips, test.clips)


def test_an_image_victim_reads_class_folders_of_images_and_a_clip_victim_leaves_them_out(tmp_path: Path) -> None:
    from PIL import Image

    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 210)}
    for name, rgb in colours.items():
        for i, ext in enumerate((".png", ".jpg")):
            (tmp_path / "images" / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (20, 14), rgb).save(tmp_path / "images" / name / f"{i}{ext}")
    image_card = _card(frames=1)
    data = resolve_test_data(tmp_path / "images", image_card)
    assert data.clips.shape == (6, 1, 3, SIZE, SIZE)  # one frame, short side resized, centre crop
    for clip, label in zip(data.clips, data.labels):
        assert clip.float().mean(dim=(0, 2, 3)).argmax().item() == ["red", "green", "blue"].index(CLASSES[label])
    assert len(resolve_aux(tmp_path / "images", image_card, 4, seed=0)) == 4
    assert len(resolve_labeled(tmp_path / "images", image_card, 0.5, seed=0)) == 3
    with pytest.raises(DataSpecError, match="no readable video"):  # a clip victim: images are not clips of it
        resolve_test_data(tmp_path / "images", _card())
