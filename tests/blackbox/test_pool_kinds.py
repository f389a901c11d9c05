"""The pool draws around searched rows only for classes the search ran on; the others, and a run without any
search, draw the prior's own samples (so `search.max_iters=0` is the no-search ablation whatever `pool.mix` says)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from safetensors.torch import load_file

from vidsteal.attacks.registry import create_attack
from vidsteal.pipeline.blackbox import run_blackbox


def _pool(mix: dict[str, float], searched: list[bool]) -> tuple[torch.Tensor, torch.Tensor]:
    attack = create_attack("embeddings", {"pool": {"mix": mix, "spread": 0.0}})
    k, d = len(searched), 6
    attack.rng = torch.Generator().manual_seed(0)
    attack.emb = SimpleNamespace(num_classes=k, theta=torch.arange(k * d).float().view(k, d), kc=4, kl=0, km=2)
    attack.search = SimpleNamespace(history=torch.zeros(0), searched=torch.tensor(searched))
    attack._prior_embeddings = lambda n: torch.full((n, d), -1.0)  # marks the prior samples
    rows, intended, _ = attack._pool_embeddings(600, torch.zeros(k))
    return rows, intended


def test_classes_the_search_never_ran_on_draw_prior_samples():
    rows, intended = _pool({"class": 1.0}, [True, False, True])
    prior = rows[:, 0] == -1
    assert 100 < int(prior.sum()) < 300  # about the third of the samples aimed at class 1
    assert torch.allclose(intended[prior], torch.full((int(prior.sum()), 3), 1 / 3))
    assert set(intended[~prior].argmax(1).tolist()) == {0, 2}  # searched samples aim at searched classes only


def test_with_nothing_searched_the_pool_is_the_prior():
    rows, _ = _pool({"class": 0.4, "boundary": 0.4, "history": 0.2}, [False] * 3)
    assert (rows == -1).all()


def _both(job_a, job_b, tmp_path) -> tuple[dict, dict]:
    """Both jobs' results, after checking they trained the same student bit for bit."""
    a, b = run_blackbox(job_a, tmp_path / "a"), run_blackbox(job_b, tmp_path / "b")
    sa, sb = load_file(tmp_path / "a" / "student.safetensors"), load_file(tmp_path / "b" / "student.safetensors")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    return a, b


def test_no_search_with_the_default_mix_is_the_prior_pool_bit_for_bit(make_job, tmp_path):
    default = make_job("embeddings", 200, search={"max_iters": 0})
    prior = make_job("embeddings", 200, search={"max_iters": 0}, pool={"mix": {"prior": 1.0}})
    a, b = _both(default, prior, tmp_path)
    assert a["metrics"]["top1"] == b["metrics"]["top1"]


def test_the_prior_attack_is_the_embedding_attack_without_search(make_job, tmp_path):
    ablation = make_job("embeddings", 200, search={"max_iters": 0}, pool={"mix": {"prior": 1.0}})
    a, b = _both(ablation, make_job("prior", 200), tmp_path)
    assert b["metrics"]["search"]["search_queries"] == 0 and a["metrics"]["top1"] == b["metrics"]["top1"]
