import pytest

from vidsteal.pipeline.study import StudyConfig, StudyPair, pair_attack, spent_record


def _out(paid, logged, search=None):
    metrics = {"paid": paid, "ledger": {"paid": logged, "hits": 0}}
    if search is not None:
        metrics["search"] = search
    return {"metrics": metrics, "queries": paid}


def test_a_run_is_recorded_with_its_paid_queries_and_search_outcome():
    search = {"threshold": 0.9, "search_queries": 400, "classes_reached": 3, "never_reached": ["a", "b"]}
    rec = spent_record("v-s", "embeddings", 1, 500, _out(500, 500, search))
    assert (rec.paid, rec.budget, rec.seed) == (500, 500, 1)
    assert (rec.classes, rec.classes_reached, rec.search_queries, rec.threshold) == (5, 3, 400, 0.9)
    plain = spent_record("v-s", "noise", 0, 500, _out(250, 250))
    assert plain.classes is None and plain.search_queries is None
    unsearched = {**search, "iterations": 0, "search_queries": 0, "classes_reached": 0}  # search.max_iters=0
    rec = spent_record("v-s", "embeddings", 0, 500, _out(500, 500, unsearched))
    assert rec.classes is None and rec.search_queries is None  # the report claims no search


@pytest.mark.parametrize("paid, logged, budget", [(500, 499, 500), (500, None, 500), (501, 501, 500)])
def test_a_count_the_query_log_does_not_hold_or_an_overspent_budget_is_an_error(paid, logged, budget):
    with pytest.raises(RuntimeError, match="query log"):
        spent_record("v-s", "embeddings", 0, budget, _out(paid, logged))


def test_pairs_sharing_a_victim_have_their_own_key_and_budget():
    cfg = StudyConfig()
    keys = [pair.key for pair in cfg.pairs]
    assert len(set(keys)) == len(keys) == 3
    assert {p.victim for p in cfg.pairs if p.student == "c3d_student"} == {"c3d_small"}
    assert StudyPair(victim="a", student="b", budget=7).budget == 7


def test_victim_overrides_change_one_architecture_recipe_only():
    from vidsteal.config import ConfigError
    from vidsteal.pipeline.study import demo_victim

    cfg = StudyConfig(victim_overrides={"swin3d_small": {"optim.lr": 0.0005, "train_size": 10}})
    swin, c3d = demo_victim("swin3d_small", cfg), demo_victim("c3d_small", cfg)
    assert (swin.arch, swin.optim.lr, swin.train_size) == ("swin3d_small", 0.0005, 10)
    assert (c3d.arch, c3d.optim, c3d.train_size) == ("c3d_small", cfg.victim.optim, cfg.victim.train_size)
    with pytest.raises(ConfigError, match="optim.lrr"):
        demo_victim("swin3d_small", StudyConfig(victim_overrides={"swin3d_small": {"optim.lrr": 1}}))


def test_greybox_overrides_change_one_pairs_grey_box_only():
    from vidsteal.config import ConfigError
    from vidsteal.pipeline.study import pair_greybox

    cfg = StudyConfig()
    vit = [p for p in cfg.pairs if p.student == "frame_vit_tiny"][0]
    cnn = [p for p in cfg.pairs if p.student == "frame_cnn"][0]
    changed = pair_greybox(cfg, vit)
    assert changed.finetune.optim.lr == 1e-4 != cfg.greybox.finetune.optim.lr  # the demo's per-pair choice (val)
    assert changed.model_copy(update={"finetune": cfg.greybox.finetune}) == cfg.greybox  # nothing else moved
    assert pair_greybox(cfg, cnn) == cfg.greybox
    with pytest.raises(ConfigError, match="finetune.optim.lrr"):
        pair_greybox(cfg, vit.model_copy(update={"greybox_overrides": {"finetune.optim.lrr": 1}}))


def test_a_3d_student_pair_trains_on_every_frame_for_longer_and_keeps_the_rest_of_the_schedule():
    cfg = StudyConfig()
    (pair,) = [p for p in cfg.pairs if p.student == "c3d_student"]
    frame = pair_attack(cfg, cfg.pairs[0])["distill"]
    video = pair_attack(cfg, pair)["distill"]
    assert frame["train_frames"] == 1 and video["train_frames"] is None  # 1 frame would starve a 3D student
    assert frame["final_epochs"] == 3 and video["final_epochs"] == 5  # the 3D student's choice on val
    own = ("train_frames", "final_epochs")
    assert {k: v for k, v in video.items() if k not in own} == {k: v for k, v in frame.items() if k not in own}


@pytest.mark.timeout(900)
def test_stages_run_by_workers_are_the_ones_the_study_collects(tmp_path):
    # Workers run every stage first; the sequential pass must then find each of them finished (same folders),
    # train nothing and report the same cells.
    from vidsteal.pipeline.study import run_study

    cfg = StudyConfig.quick()
    first = run_study(cfg, tmp_path / "study", workers=2)
    outputs = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")}
    assert any("blackbox" in str(p) for p in outputs) and any("greybox" in str(p) for p in outputs)
    again = run_study(cfg, tmp_path / "study", workers=1)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.safetensors")} == outputs
    assert again.rows == first.rows and again.spent == first.spent
    assert any("2 worker processes" in note for note in first.notes)


def test_the_data_free_rows_take_the_val_chosen_kd_temperature_and_the_others_keep_the_shared_schedule(tmp_path):
    from vidsteal.pipeline.study import _blackbox_jobs

    cfg = StudyConfig()
    for pair in cfg.pairs:
        jobs = _blackbox_jobs(cfg, pair, tmp_path / "victim.safetensors", tmp_path)
        distill = {tag: rows[0][0].attack["distill"] for tag, rows in jobs.items()}
        assert distill["embeddings"]["temperature"] == distill["noise"]["temperature"] == 8  # 5,000 queries
        assert "temperature" not in distill["dfme"] and "temperature" not in distill["ceiling"]
        shared = pair_attack(cfg, pair)["distill"]
        assert {k: v for k, v in distill["embeddings"].items() if k != "temperature"} == shared  # pair's lr kept
    big = cfg.model_copy(update={"blackbox_budget": 50_000})  # above 30k: the library's 1
    (job, _), = _blackbox_jobs(big, cfg.pairs[0], tmp_path, tmp_path)["embeddings"]
    assert "temperature" not in job.attack["distill"]
    own = cfg.model_copy(update={"blackbox_attack": {"distill": {"temperature": 2.0}}})  # a recipe's own choice wins
    assert {rows[0][0].attack["distill"]["temperature"] for rows in _blackbox_jobs(own, cfg.pairs[0], tmp_path,
                                                                                   tmp_path).values()} == {2.0}
