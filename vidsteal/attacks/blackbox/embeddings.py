"""Class-embedding extraction: search per-class embeddings over a generator prior, then distil on what they make.

Paper: the reference study (``shared/reference-study.txt``: BigGAN-ImageNet prior, one learned embedding per
victim class, tuned until the victim's confidence exceeds 90%, then knowledge distillation; 12.43% / 7.8% top-1
on K600 MoViNet / K400 Swin-T). Threat model: ``search.mode=query_only`` (default) needs query access only and
uses soft scores when revealed (labels-only degrades the search to a 0/1 signal); ``search.mode=gradient`` is the
reference study's white-box setting. Query cost: search iterations (see
:mod:`~vidsteal.attacks.blackbox.class_embedding`) until every class passes the threshold or ``search.fraction``
of the budget is spent, then one query per pool clip.

Known problem (issue 8): clips that fool the victim with high confidence transfer poorly to real clips, so the
pool mixes sample kinds and can select its queries through the student (:mod:`~vidsteal.attacks.blackbox.pool`).
``search.probe`` first spends a share of the budget on the prior's own clips and searches only the classes the victim
rarely answered on them (the search exists to reach classes the prior misses); the others draw prior samples.
Without any search (``search.max_iters=0``) the pool is the prior's own clips: the ``prior`` attack
(:mod:`~vidsteal.attacks.blackbox.prior`), which transfers better on the victims vidsteal did not train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field

from vidsteal.attacks.base import AttackContext, AttackResult
from vidsteal.attacks.blackbox.class_embedding import (
    ClassEmbeddings, PriorConfig, SearchConfig, SearchState, class_log_confidence, gradient_loss, threshold_targets,
    white_box_victim,
)
from vidsteal.attacks.blackbox.elites import EliteArchive
from vidsteal.attacks.blackbox.guide import guide_blocks
from vidsteal.attacks.blackbox.pool import KINDS, SEARCHED_KINDS, PoolConfig, augment, mixup, rare_first
from vidsteal.attacks.blackbox.samples import save_strips
from vidsteal.attacks.blackbox.session import BlackboxAttack, BlackboxConfig, Session
from vidsteal.attacks.blackbox.trajectories import MotionConfig
from vidsteal.attacks.blackbox.zeroth_order import Adam, antithetic_nes
from vidsteal.attacks.registry import register_attack
from vidsteal.models.generators import create_prior_for
from vidsteal.victims.base import Oracle
from vidsteal.victims.outputs import Answers


class EmbeddingConfig(BlackboxConfig):
    prior: PriorConfig = Field(default_factory=PriorConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)


@register_attack
class EmbeddingAttack(BlackboxAttack):
    name = "embeddings"
    config_class: ClassVar[type[EmbeddingConfig]] = EmbeddingConfig  # type: ignore[assignment]
    config: EmbeddingConfig

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__(config)
        self.needs_gradients = config.search.mode == "gradient"  # type: ignore[misc]
        unknown = set(config.pool.mix) - set(KINDS)
        if unknown or not any(w > 0 for w in config.pool.mix.values()):
            raise ValueError(f"pool.mix needs positive weights over {KINDS}, got {config.pool.mix}")

    def check_oracle(self, oracle: Oracle) -> None:
        self.white_box = white_box_victim(oracle) if self.needs_gradients else None

    def run(self, oracle: Oracle, student: torch.nn.Module, context: AttackContext) -> AttackResult:
        self.class_names = getattr(context.test_set, "classes", None)  # for reports only
        result = super().run(oracle, student, context)
        self._save_class_strips(Path(context.run_dir) / "samples" / "embeddings")
        return result

    # -- setup / state -------------------------------------------------------------------------------------
    def setup(self, session: Session) -> None:
        cfg = self.config
        self.rng = torch.Generator().manual_seed(cfg.seed * 1_000_003 + 23)
        prior = create_prior_for(cfg.prior.generator, session.size, **cfg.prior.generator_kwargs)
        self.emb = ClassEmbeddings(prior, session.num_classes, cfg.prior, cfg.motion, session.frames, session.size,
                                   cfg.seed)
        self.adam = Adam(tuple(self.emb.theta.shape), cfg.search.lr)
        self.search = SearchState(session.num_classes, self.emb.dim)
        self.search_budget = int(cfg.search.fraction * cfg.budget)
        self.probe_budget = int(cfg.search.probe * cfg.budget)
        self.phase = "probe" if self.probe_budget else self._after_probe()
        self.names: list[str] | None = getattr(self, "class_names", None)
        self.archive = (EliteArchive(session.num_classes, cfg.pool.elites, self.emb.dim, prior.z_dim)
                        if cfg.pool.mix.get("elite", 0) > 0 else None)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {"theta": self.emb.theta, "rng": self.rng.get_state(), **self.adam.state("adam"),
                   **self.search.tensors(), **(self.archive.tensors("elites") if self.archive else {})}
        return tensors, {"phase": self.phase, "iters": self.search.iters, "spent": self.search.spent}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.emb.theta = tensors["theta"]
        self.rng.set_state(tensors["rng"])
        self.adam.load(tensors, "adam")
        self.search.load(tensors, meta)
        self.phase = meta["phase"]
        if self.archive is not None:
            self.archive.load(tensors, "elites")

    def summary(self) -> dict[str, Any]:
        out = {"search": {"mode": self.config.search.mode,
                          **self.search.report(self.names, self.config.search.threshold)}}
        return out if self.archive is None else {**out, "elites": self.archive.report()}

    # -- steps ---------------------------------------------------------------------------------------------
    def _after_probe(self) -> str:
        searched = self.config.search.max_iters != 0 and self.search_budget > 0 and not self.search.covered.all()
        return "search" if searched else "pool"

    def step(self, session: Session) -> None:
        if self.phase == "probe":
            self._pool_step(session, limit=self.probe_budget - session.used)
            if session.used >= self.probe_budget or not session.remaining:
                self.search.cover(session.buffer.top1_counts, self.config.search.covered)
                self.phase = self._after_probe()
            return
        if self.phase == "search":
            done = self._search_step(session)
            if done:
                self.phase = "pool"
            return
        self._pool_step(session)

    def _search_left(self, session: Session) -> int:
        return min(self.search_budget - self.search.spent, session.remaining)

    def _search_step(self, session: Session) -> bool:
        """One search iteration over the classes not yet at the threshold; True when the search is over."""
        cfg = self.config.search
        active = (~self.search.reached & ~self.search.covered).nonzero().flatten()
        if active.numel() == 0 or (cfg.max_iters is not None and self.search.iters >= cfg.max_iters):
            return True
        if cfg.mode == "gradient":
            per_class = cfg.grad_clips
        elif cfg.optimizer == "nes":
            per_class = 2 * cfg.directions * cfg.clips_per_candidate
        else:
            per_class = cfg.population * cfg.clips_per_candidate
        fit = self._search_left(session) // per_class
        if fit < 1:
            return True
        if fit < active.numel():  # rotate which classes go first so none is starved at the end
            active = active.roll(-(self.search.iters % active.numel()))[:fit]
        before = session.used + session.white_box
        if cfg.mode == "gradient":
            conf = self._gradient_iteration(session, active)
        elif cfg.optimizer == "nes":
            conf = self._nes_iteration(session, active)
        else:
            conf = self._es_iteration(session, active)
        if conf is None:
            return True
        self.search.spent += session.used + session.white_box - before
        self.search.iters += 1
        self.search.update(active, conf, session.used + session.white_box, cfg.threshold)
        self.search.history = torch.cat([self.search.history, self.emb.theta.unsqueeze(0)])
        return False

    def _nes_iteration(self, session: Session, active: torch.Tensor) -> torch.Tensor | None:
        cfg = self.config.search
        m, r = cfg.directions, cfg.clips_per_candidate
        noise = self.emb.noise(active.numel() * m * r, self.rng, self._per_image(r))  # shared by antithetic pairs
        conf = torch.zeros(active.numel())

        def fitness(points: torch.Tensor) -> torch.Tensor:
            a = active.numel()
            theta = points.view(a, 2, m, 1, -1).expand(a, 2, m, r, -1).reshape(a * 2 * m * r, -1)
            shared = {k: v.view(a, 1, m, r, -1).expand(a, 2, m, r, -1).reshape(a * 2 * m * r, -1)
                      for k, v in noise.items()}
            classes = active.view(a, 1).expand(a, 2 * m * r).reshape(-1)
            with torch.no_grad():
                clips = self.emb.render(theta, shared)
            paid, answers, targets = session.pay(clips)
            if paid.shape[0] < clips.shape[0]:
                raise _SearchOver
            conf[:] = threshold_targets(answers, targets).gather(1, classes.view(-1, 1)).view(a, -1).mean(1)
            return class_log_confidence(targets, classes).view(a * 2 * m, r).mean(1)

        try:
            grad, _ = antithetic_nes(fitness, self.emb.theta[active], m, cfg.sigma, self.rng)
        except _SearchOver:
            return None
        self.adam.step(self.emb.theta, grad, active, maximize=True)
        return conf

    def _es_iteration(self, session: Session, active: torch.Tensor) -> torch.Tensor | None:
        cfg = self.config.search
        p, r = cfg.population, cfg.clips_per_candidate
        owner = active.repeat_interleave(p)  # the class each sample was drawn for
        share = max(1, min(self.config.prior.clips_per_image // r, p))  # samples per appearance draw
        theta = self.emb.theta[owner] + self._es_steps(active.numel(), p, share) * cfg.sigma
        rows = theta.repeat_interleave(r, 0)
        noise = self.emb.noise(owner.numel() * r, self.rng, max(share * r, self._per_image(r)))
        with torch.no_grad():
            clips = self.emb.render(rows, noise)
        paid, answers, targets = session.pay(clips)
        self._offer(rows, noise, answers, targets)
        if paid.shape[0] < clips.shape[0]:
            return None
        scores = torch.log(targets.clamp(min=1e-4)).view(owner.numel(), r, -1).mean(1)  # (samples, K)
        elites = scores[:, active].topk(min(cfg.elites, owner.numel()), dim=0).indices  # (e, active)
        target = theta[elites].mean(0)  # (active, D): every class may move to samples drawn for another
        self.emb.theta[active] += cfg.step * (target - self.emb.theta[active])
        hits = threshold_targets(answers, targets).view(owner.numel(), r, -1).mean(1)
        own = hits.gather(1, owner.view(-1, 1)).view(active.numel(), p)
        return own.mean(1)  # the victim's mean confidence in the class each sample was drawn for

    def _es_steps(self, classes: int, p: int, share: int) -> torch.Tensor:
        """``(classes * p, D)`` standard normal steps; with ``share`` > 1 each class's samples come in groups of
        ``share`` with one appearance step (class and latent coords) and their own motion steps, so a group's clips
        share their keyframes (one render) and the group tries one appearance in several motions."""
        if share == 1:
            return torch.randn(classes * p, self.emb.dim, generator=self.rng)
        look = self.emb.kc + self.emb.kl
        draws = -(-p // share)
        app = torch.randn(classes, draws, look, generator=self.rng).repeat_interleave(share, 1)[:, :p]
        return torch.cat([app.reshape(classes * p, look),
                          torch.randn(classes * p, self.emb.km, generator=self.rng)], dim=1)

    def _gradient_iteration(self, session: Session, active: torch.Tensor) -> torch.Tensor:
        cfg = self.config.search
        assert self.white_box is not None
        r = cfg.grad_clips
        classes = active.repeat_interleave(r)
        noise = self.emb.noise(classes.numel(), self.rng, self._per_image(r))
        theta = self.emb.theta[classes].clone().requires_grad_(True)
        grad = torch.zeros_like(theta)
        probs = torch.zeros(classes.numel())
        step = self.config.prior.render_batch
        for i in range(0, classes.numel(), step):  # chunked so the prior's activations fit in memory
            part = slice(i, i + step)
            th = theta[part].detach().requires_grad_(True)
            clips = self.emb.render(th, {k: v[part] for k, v in noise.items()})
            logits = self.white_box.logits(clips)
            loss = gradient_loss(logits, classes[part]) * th.shape[0] / classes.numel()
            (g,) = torch.autograd.grad(loss, th)
            grad[part] = g
            probs[part] = torch.softmax(logits.detach(), 1).gather(1, classes[part].view(-1, 1)).squeeze(1)
        session.charge_white_box(classes.numel())
        per_class = grad.view(active.numel(), r, -1).sum(1)
        self.adam.step(self.emb.theta, per_class, active, maximize=False)
        return probs.view(active.numel(), r).mean(1)

    def _pool_step(self, session: Session, limit: int | None = None) -> None:
        cfg = self.config.pool
        n = min(cfg.batch, session.remaining if limit is None else min(limit, session.remaining))
        want = n if cfg.select == "none" else int(n * cfg.candidates)
        k = self.config.prior.clips_per_image  # blocks of k clips share an embedding and its keyframes
        answered = session.buffer.top1_counts  # an argmax over the whole buffer: once per step
        theta, intended, keys = self._pool_embeddings(-(-want // k), answered)
        noise = self.emb.noise(want, self.rng, k)
        if keys is not None:  # elite blocks render their members' mutated latents
            for name, z in zip(("z0", "z1"), keys[1:]):
                block = noise[name][::k].clone()
                block[keys[0]] = z
                noise[name] = block.repeat_interleave(k, 0)[:want]
        frames = {"train": session.learner.cfg.train_frames, "all": None}.get(cfg.score_frames, cfg.score_frames)
        if cfg.guide_steps:
            theta, noise = guide_blocks(self.emb, session.learner, theta, intended, noise, k, cfg.guide_steps,
                                        cfg.guide_lr, cfg.guide_latents, frames, clips=cfg.guide_clips)
        theta, intended = theta.repeat_interleave(k, 0)[:want], intended.repeat_interleave(k, 0)[:want]
        with torch.no_grad():
            clips = self.emb.render(theta, noise)
        clips = augment(clips, cfg.augment, self.rng)
        clips, intended = mixup(clips, intended, cfg.mixup, self.rng)
        order = torch.arange(want)
        if cfg.select != "none":
            probs = session.learner.probs(clips, frames=frames, mixed=True)
        if cfg.select == "disagreement":
            score = -(intended * torch.log(probs.clamp(min=1e-8))).sum(1)  # student's CE against the aim
            order = score.argsort(descending=True)[:n]
        elif cfg.select == "rare":
            order = rare_first(probs, answered, n)
        _, answers, targets = session.pay(clips[order])
        self._offer(theta[order], {name: noise[name][order] for name in ("z0", "z1")}, answers, targets)

    def _offer(self, theta: torch.Tensor, noise: dict[str, torch.Tensor], answers: Answers | None,
               targets: torch.Tensor) -> None:
        """Offer the paid prefix of these clips to the elite archive, scored by the victim per class."""
        if self.archive is not None and targets.shape[0]:
            n = targets.shape[0]
            self.archive.offer(theta[:n], noise["z0"][:n], noise["z1"][:n], threshold_targets(answers, targets))

    def _per_image(self, clips_per_embedding: int) -> int:
        """Clips per keyframe pair in the search: a candidate's clips share one (up to ``prior.clips_per_image``)."""
        return min(self.config.prior.clips_per_image, clips_per_embedding)

    def _pool_aims(self, n: int, answered: torch.Tensor) -> torch.Tensor:
        """The class each of ``n`` pool samples aims at (``answered``: the victim's top-1 counts so far)."""
        k = self.emb.num_classes
        if self.config.pool.allocate == "uniform":
            return torch.randint(0, k, (n,), generator=self.rng)
        return torch.multinomial(1 / (1 + answered), n, replacement=True, generator=self.rng)

    def _pool_embeddings(self, n: int, answered: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """``n`` embeddings drawn from the pool mix, the label each was aimed at (a distribution), and for elite
        samples ``(rows, z0, z1)``: which of the ``n`` they are and their keyframe latents (None without any)."""
        cfg, k = self.config.pool, self.emb.num_classes
        names = [name for name in KINDS if cfg.mix.get(name, 0) > 0]
        if self.search.history.shape[0] == 0 and "history" in names and len(names) > 1:
            names.remove("history")  # no search was run: nothing to draw from
        if not self.search.searched.any() and set(names) <= set(SEARCHED_KINDS):
            names = ["prior"]  # nothing searched (no search, or the probe): the prior alone, as mix={"prior": 1}
        weights = torch.tensor([cfg.mix.get(name, 1.0) for name in names])
        kind = torch.multinomial(weights, n, replacement=True, generator=self.rng)
        a = self._pool_aims(n, answered)
        b = (a + torch.randint(1, k, (n,), generator=self.rng)) % k
        lam = torch.rand(n, generator=self.rng)
        # samples of searched kinds aimed at a class the search never ran on (the prior covers it) come from the prior
        dependent = torch.tensor([name in SEARCHED_KINDS for name in names])[kind]
        from_prior = dependent & ~self.search.searched[a]
        if from_prior.any():
            names += [] if "prior" in names else ["prior"]
            kind[from_prior] = names.index("prior")
        theta = self.emb.theta[a].clone()
        intended = torch.nn.functional.one_hot(a, k).float()
        cls_lat = self.emb.kc + self.emb.kl
        keys = None
        for i, name in enumerate(names):
            sel = (kind == i).nonzero().flatten()
            if sel.numel() == 0:
                continue
            if name == "class":
                theta[sel, :cls_lat] += torch.randn(sel.numel(), cls_lat, generator=self.rng) * cfg.spread
            elif name == "boundary":
                mix = lam[sel].view(-1, 1)
                theta[sel] = (1 - mix) * self.emb.theta[a[sel]] + mix * self.emb.theta[b[sel]]
                intended[sel] = (1 - mix) * intended[sel] + mix * torch.nn.functional.one_hot(b[sel], k).float()
            elif name == "history":
                hist = self.search.history
                if hist.shape[0]:
                    it = torch.randint(0, hist.shape[0], (sel.numel(),), generator=self.rng)
                    theta[sel] = hist[it, a[sel]]
            elif name == "prior":
                theta[sel] = self._prior_embeddings(sel.numel())
                intended[sel] = 1.0 / k
            elif name == "elite":  # the archive exists exactly when the mix names elite
                theta[sel], z0, z1 = self._mutants(a[sel])
                keys = ((kind == i), z0, z1)
        if cfg.free_motion > 0 and self.emb.km:  # prior samples draw their motion from the prior already
            free = torch.rand(n, generator=self.rng) < cfg.free_motion
            if "prior" in names:
                free &= kind != names.index("prior")
            motion = torch.randn(int(free.sum()), self.emb.km, generator=self.rng) * self.config.prior.init_motion
            theta[free, cls_lat:] = motion
        return theta, intended, keys

    def _mutants(self, classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gaussian mutations of random archive members of ``classes``: rows (motion kept) and latents."""
        assert self.archive is not None
        theta, z0, z1 = self.archive.sample(classes, self.rng)
        s, look = self.config.pool.elite_sigma, self.emb.kc + self.emb.kl
        theta = theta.clone()
        theta[:, :look] += torch.randn(theta.shape[0], look, generator=self.rng) * s
        scale = s * self.emb.prior.z_scale
        return (theta, z0 + torch.randn(z0.shape, generator=self.rng) * scale,
                z1 + torch.randn(z1.shape, generator=self.rng) * scale)

    def _prior_embeddings(self, n: int) -> torch.Tensor:
        emb = self.emb
        start = emb.prior.one_hot(torch.randint(0, max(emb.prior.class_dim, 1), (n,), generator=self.rng))
        return torch.cat([start @ emb.cls_basis, torch.zeros(n, emb.kl),
                          torch.randn(n, emb.km, generator=self.rng) * self.config.prior.init_motion], dim=1)

    def _save_class_strips(self, folder: Path) -> None:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            clips = self.emb.render(self.emb.theta, self.emb.noise(self.emb.num_classes, g))
        names = self.names or [str(c) for c in range(self.emb.num_classes)]
        conf = self.search.best.tolist()
        save_strips(clips, [f"{c:02d}_{names[c]}_best{conf[c]:.2f}" for c in range(len(names))], folder)


class _SearchOver(Exception):
    """The budget ended inside a search iteration; the paid probes stay in the buffer."""
