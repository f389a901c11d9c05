"""The elite archive keeps, per class, the individual clips the victim scored highest (the pool mutates them:
``test_resume``)."""

from __future__ import annotations

import torch

from vidsteal.attacks.blackbox.elites import EliteArchive


def _rows(n: int, start: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.arange(n, dtype=torch.float32).view(-1, 1) + start
    return ids.expand(n, 2).clone(), ids.expand(n, 3).clone(), -ids.expand(n, 3).clone()


def test_each_class_keeps_its_best_scored_individuals_across_offers():
    archive = EliteArchive(num_classes=2, size=2, dim=2, z_dim=3)
    theta, z0, z1 = _rows(3, 0)  # individuals 0, 1, 2
    archive.offer(theta, z0, z1, torch.tensor([[0.1, 0.9], [0.5, 0.2], [0.3, 0.4]]))
    assert torch.allclose(archive.score, torch.tensor([[0.5, 0.3], [0.9, 0.4]]))
    assert archive.theta[0, :, 0].tolist() == [1, 2] and archive.theta[1, :, 0].tolist() == [0, 2]
    theta, z0, z1 = _rows(2, 10)  # individuals 10, 11: 10 beats class 0's weakest only, 11 beats nobody
    archive.offer(theta, z0, z1, torch.tensor([[0.4, 0.0], [0.2, 0.1]]))
    assert torch.allclose(archive.score, torch.tensor([[0.5, 0.4], [0.9, 0.4]]))
    assert archive.theta[0, :, 0].tolist() == [1, 10] and archive.theta[1, :, 0].tolist() == [0, 2]
    assert torch.equal(archive.z0[0, 1], torch.full((3,), 10.0)) and torch.equal(archive.z1[0, 1], torch.full((3,), -10.0))


def test_clips_of_one_individual_count_once_at_their_best_score():
    archive = EliteArchive(num_classes=1, size=3, dim=2, z_dim=3)
    theta, z0, z1 = _rows(1, 7)
    block = [t.expand(4, -1) for t in (theta, z0, z1)]  # four motions of one appearance
    archive.offer(*block, torch.tensor([[0.2], [0.8], [0.5], [0.1]]))
    assert archive.score[0, 0].item() == torch.tensor(0.8).item() and torch.isinf(archive.score[0, 1:]).all()
    theta, z0, z1 = archive.sample(torch.tensor([0, 0, 0]), torch.Generator().manual_seed(0))
    assert (theta[:, 0] == 7).all() and (z0 == 7).all() and (z1 == -7).all()  # the only member, never an empty slot
