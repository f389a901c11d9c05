"""Defences: noise perturbs but stays a distribution, poisoning lies only to OOD queries, PRADA tells attack streams
from natural ones, and a defended server answers exactly what the same defence computes locally."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from serve_support import ALICE, clips
from vidsteal.victims.defended import DefendedOracle
from vidsteal.victims.defences import (
    DefenceChain,
    NoiseConfig,
    NoiseDefence,
    PoisonConfig,
    PoisonDefence,
    PradaConfig,
    PradaDetector,
    QueryRefused,
    shapiro_wilk,
)
from vidsteal.victims.http import HttpOracle, RemoteError
from vidsteal.victims.local import LocalOracle
from vidsteal.victims.outputs import Answers, OutputMode


def _probs(n: int, k: int, peak: float, seed: int = 0) -> torch.Tensor:
    """Rows whose max probability is about ``peak`` (low peak = out-of-distribution-looking query)."""
    g = torch.Generator().manual_seed(seed)
    top = torch.randint(0, k, (n,), generator=g)
    rest = torch.rand(n, k, generator=g)
    rest[torch.arange(n), top] = 0
    rest = rest / rest.sum(1, keepdim=True) * (1 - peak)
    rest[torch.arange(n), top] = peak
    return rest


def test_noise_changes_probs_but_keeps_a_distribution_and_the_label():
    probs = _probs(64, 10, 0.3)
    out = NoiseDefence(NoiseConfig(scale=0.1, seed=0))(probs, torch.empty(0), "k")
    assert not torch.allclose(out, probs)
    assert (out >= 0).all() and torch.allclose(out.sum(1), torch.ones(64), atol=1e-6)
    assert torch.equal(out.argmax(1), probs.argmax(1))
    loose = NoiseDefence(NoiseConfig(scale=0.5, seed=0, keep_argmax=False, distribution="laplace"))
    assert (loose(probs, torch.empty(0), "k").argmax(1) != probs.argmax(1)).any()


def test_noise_is_reproducible_by_seed_and_thread_safe():
    probs = _probs(8, 5, 0.5)
    a, b = NoiseDefence(NoiseConfig(seed=7)), NoiseDefence(NoiseConfig(seed=7))
    assert torch.equal(a(probs, torch.empty(0), "k"), b(probs, torch.empty(0), "k"))
    outs: list[torch.Tensor] = []
    threads = [threading.Thread(target=lambda: outs.append(a(probs, torch.empty(0), "k"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 8 and all(torch.isfinite(o).all() for o in outs)


def test_unseeded_noise_leaves_torchs_global_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first, second = NoiseDefence(NoiseConfig()), NoiseDefence(NoiseConfig())
    assert torch.equal(torch.rand(3), expected)
    assert first.seed != second.seed  # each unseeded defence draws its own seed, and says which


def test_poisoning_lies_to_ood_queries_only():
    poison = PoisonDefence(PoisonConfig(threshold=0.5, sharpness=50))
    confident, ood = _probs(32, 10, 0.9, seed=1), _probs(32, 10, 0.2, seed=2)
    kept = poison(confident, torch.empty(0), "k")
    assert torch.equal(kept.argmax(1), confident.argmax(1)) and torch.allclose(kept, confident, atol=1e-6)
    lied = poison(ood, torch.empty(0), "k")
    assert (lied.argmax(1) != ood.argmax(1)).all()  # every OOD answer now points at a wrong class...
    assert torch.equal(lied.argmax(1), poison.misleading_class(ood))  # ...the same wrong class every time
    assert torch.allclose(lied.sum(1), torch.ones(32), atol=1e-6)
    least = PoisonDefence(PoisonConfig(target="least_likely"))(ood, torch.empty(0), "k")
    assert torch.equal(least.argmax(1), ood.argmin(1))


def test_shapiro_wilk_separates_normal_from_bimodal():
    g = torch.Generator().manual_seed(0)
    w_normal, p_normal = shapiro_wilk(torch.randn(500, generator=g))
    bimodal = torch.cat([torch.randn(250, generator=g) * 0.05, 3 + torch.randn(250, generator=g) * 0.05])
    w_bimodal, p_bimodal = shapiro_wilk(bimodal)
    assert w_normal > 0.99 and p_normal > 0.01
    assert w_bimodal < 0.8 and p_bimodal < 1e-6
    # Reference values computed with scipy.stats.shapiro (same algorithm, AS R94) on fixed data.
    w, p = shapiro_wilk([2.1, 3.4, 1.9, 5.6, 4.4, 3.3, 2.8, 3.9, 4.1, 2.2])
    assert w == pytest.approx(0.9524826, abs=1e-6) and p == pytest.approx(0.6979170, abs=1e-5)
    skewed = [0.6799, 1.0196, 0.0198, 0.0023, 0.5503, 1.6299, 0.6736, 0.7553, 2.8168, 6.0578, 3.2864, 0.0013,
              2.2691, 0.0725, 1.0694, 0.8489, 3.1499, 0.354, 0.3071, 1.4922, 0.037, 0.1353, 1.0302, 0.7745,
              1.7377, 0.4137, 0.4482, 1.8521, 1.7252, 0.3235, 0.2108, 1.2233, 0.5383, 0.8547, 1.0487, 1.2322,
              2.9282, 0.1537, 1.4658, 1.1242]
    w, p = shapiro_wilk(skewed)
    assert w == pytest.approx(0.8021614, abs=1e-6) and p == pytest.approx(7.516948e-06, rel=1e-4)
    with pytest.raises(ValueError):
        shapiro_wilk([1.0, 2.0])


def _natural_stream(n: int, seed: int) -> torch.Tensor:
    """Independent smooth clips, like distinct real videos: min distances come out roughly normal."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 2, 4, 4, generator=g)
    return F.interpolate(low, size=(4, 16, 16), mode="trilinear", align_corners=False).clamp(0, 1)


def _attack_stream(n: int, seed: int, seeds: int = 8, eps: float = 0.02) -> torch.Tensor:
    """JbDA-style synthetic queries: a few seed clips, then rounds of small sign perturbations of recent ones."""
    g = torch.Generator().manual_seed(seed)
    out = [_natural_stream(seeds, seed + 1)]
    while sum(len(o) for o in out) < n:
        prev = torch.cat(out)[-4 * seeds:]
        out.append((prev + eps * torch.sign(torch.randn(prev.shape, generator=g))).clamp(0, 1))
    return torch.cat(out)[:n]


@pytest.mark.parametrize("per_class", [True, False])
def test_prada_flags_attack_stream_not_natural_stream(per_class: bool):
    config = PradaConfig(min_queries=50, delta=0.9, per_class=per_class)
    detector = PradaDetector(config)
    classes = torch.randint(0, 3, (300,), generator=torch.Generator().manual_seed(0))
    natural, attack = _natural_stream(300, 0), _attack_stream(300, 1)
    for i in range(0, 300, 10):
        detector.observe(natural[i:i + 10], classes[i:i + 10], "honest")
        detector.observe(attack[i:i + 10], classes[i:i + 10], "thief")
    honest, thief = detector.status("honest"), detector.status("thief")
    assert not honest["flagged"] and honest["w"] > config.delta
    assert thief["flagged"] and thief["w"] < config.delta
    assert honest["queries"] == thief["queries"] == 300


def test_prada_blocks_a_flagged_key_in_the_chain():
    chain = DefenceChain.from_configs([PradaConfig(min_queries=20, block=True, per_class=False)])
    attack = _attack_stream(120, 3)
    probs = torch.full((10, 4), 0.25)
    with pytest.raises(QueryRefused, match="blocked"):
        for i in range(0, 120, 10):
            chain.screen(attack[i:i + 10], "thief")
            chain(probs, attack[i:i + 10], "thief")
    chain.screen(attack[:1], "someone_else")  # other keys are unaffected


def test_defended_server_answers_what_the_defence_computes_locally(serve, victim_path):
    noise = NoiseConfig(scale=0.05, seed=11)
    server = serve(defences=[noise])
    x = clips(6, seed=5)
    remote = HttpOracle(server.url, batch_size=6).query(x)
    local = LocalOracle.from_file(victim_path)
    defended = DefendedOracle(local, DefenceChain.from_configs([noise]), key="anonymous").query(x)
    assert torch.allclose(remote.probs, defended.probs, atol=1e-6)
    assert not torch.allclose(remote.probs, local.query(x).probs, atol=1e-3)


def _bitwise(a: Answers, b: Answers) -> bool:
    same_probs = (a.probs is None and b.probs is None) or (
        a.probs is not None and b.probs is not None and torch.equal(a.probs.view(torch.int32), b.probs.view(torch.int32)))
    return torch.equal(a.labels, b.labels) and same_probs


@pytest.mark.parametrize("mode", [OutputMode(), OutputMode(kind="topk_probs", k=3), OutputMode(kind="rounded")],
                         ids=lambda m: m.kind.value)
def test_defended_server_and_defended_oracle_answer_identically(serve, victim_path, mode):
    """Same victim, same defence configs (seeded noise, poisoning, PRADA), same clips in the same batches:
    bit-identical answers, and PRADA's per-key state ends up the same on both sides."""
    configs = [PoisonConfig(threshold=0.5, seed=2), NoiseConfig(scale=0.05, seed=3),
               PradaConfig(min_queries=20, per_class=False)]
    server = serve(defences=configs, output_mode=mode)
    remote = HttpOracle(server.url, batch_size=10, max_concurrency=1)
    local_chain = DefenceChain.from_configs(configs)
    local = DefendedOracle(LocalOracle.from_file(victim_path), local_chain, mode, key="anonymous")
    attack = _attack_stream(60, 7)
    for i in range(0, 60, 10):
        assert _bitwise(remote.query(attack[i:i + 10]), local.query(attack[i:i + 10])), f"batch {i // 10}"
    served_prada = server.app.state.service.engine.defences.defences[2]
    status = local_chain.defences[2].status("anonymous")
    assert status == served_prada.status("anonymous") and status["queries"] == 60 and status["w"] is not None


def test_server_blocks_key_flagged_by_prada(serve, keys_file):
    server = serve(keys_path=keys_file(alice={}),
                   defences=[PradaConfig(min_queries=30, block=True, per_class=False)])
    oracle = HttpOracle(server.url, ALICE, batch_size=10, max_concurrency=1, retries=0)
    attack = _attack_stream(200, 4)
    with pytest.raises(RemoteError) as err:
        for i in range(0, 200, 10):
            oracle.query(attack[i:i + 10])
    assert err.value.status == 403 and "blocked" in err.value.message
