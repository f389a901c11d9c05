"""The query log: exact round trips, free repeats, resumed counting, and recovery from a kill mid-write."""

from __future__ import annotations

import pytest
import torch

from vidsteal.data.clips import to_model_input, to_uint8_clips
from vidsteal.victims import LedgerError, LoggedOracle, Oracle, OracleError, OutputMode, QueryLedger
from vidsteal.victims.outputs import Answers


def _same(a: Answers, b: Answers) -> bool:
    """Bit-identical answers (``torch.equal`` on float32 would also accept -0.0 == 0.0)."""
    probs_same = (a.probs is None and b.probs is None) or (
        a.probs is not None and b.probs is not None and a.probs.dtype == b.probs.dtype == torch.float32
        and torch.equal(a.probs.view(torch.int32), b.probs.view(torch.int32))
    )
    return torch.equal(a.labels, b.labels) and probs_same and a.mode == b.mode


@pytest.mark.parametrize("mode", [OutputMode(), OutputMode(kind="topk_probs", k=2), OutputMode(kind="label")])
def test_round_trip_is_exact(make_victim, make_clips, tmp_path, mode):
    clips = make_clips(10, 0)
    with LoggedOracle(make_victim(mode), tmp_path) as oracle:  # one chunk: same batch as the reference below
        first = oracle.query(clips)
        assert _same(first, make_victim(mode).query(to_model_input(to_uint8_clips(clips))))
    backend = make_victim(mode)
    with LoggedOracle(backend, tmp_path) as oracle:
        assert _same(oracle.query(clips), first) and backend.queries == 0
        (replayed, answers), = list(oracle.ledger.replay(batch_size=64))
    assert torch.equal(replayed, to_model_input(to_uint8_clips(clips)))  # the victim saw the 8-bit clip
    assert _same(answers, first)


def test_replay_rebatches_across_shards(victim, make_clips, tmp_path):
    with LoggedOracle(victim, tmp_path, shard_size=3) as oracle:
        answers = oracle.query(make_clips(10, 0))
        batches = list(oracle.ledger.replay(batch_size=4))
    assert [len(a) for _, a in batches] == [4, 4, 2]
    assert _same(Answers.cat([a for _, a in batches]), answers)


def test_repeats_are_free(victim, make_clips, tmp_path):
    clips = make_clips(6, 0)
    oracle = LoggedOracle(victim, tmp_path)
    first = oracle.query(clips)
    second = oracle.query(clips.flip(0))
    assert _same(second, first[torch.arange(5, -1, -1)])
    assert (oracle.paid, oracle.hits, victim.queries, oracle.queries) == (6, 6, 6, 12)
    doubled = oracle.query(torch.cat([make_clips(2, 1), make_clips(2, 1)]))  # in-batch duplicates pay once
    assert _same(doubled[:2], doubled[2:]) and oracle.paid == 8 and victim.queries == 8


def test_sub_quantum_changes_hit_the_same_query(victim, make_clips, tmp_path):
    clips = to_model_input(to_uint8_clips(make_clips(2, 0)))
    oracle = LoggedOracle(victim, tmp_path)
    oracle.query(clips)
    oracle.query((clips + 1e-4).clamp(0, 1))
    assert oracle.paid == 2 and oracle.hits == 2


def test_float32_ledger_keeps_exact_clips(victim, make_clips, tmp_path):
    clips = make_clips(3, 0)
    oracle = LoggedOracle(victim, tmp_path, quantize=False)
    oracle.query(clips)
    oracle.query((clips + 1e-4).clamp(0, 1))
    assert oracle.paid == 6
    replayed = torch.cat([c for c, _ in oracle.ledger.replay()])
    assert torch.equal(replayed[:3], clips)


def test_resume_continues_counting(make_victim, make_clips, tmp_path):
    with LoggedOracle(make_victim(), tmp_path) as oracle:
        oracle.query(make_clips(5, 0))
    backend = make_victim()
    with LoggedOracle(backend, tmp_path) as oracle:
        assert oracle.paid == 5
        oracle.query(torch.cat([make_clips(5, 0), make_clips(3, 1)]))
        assert (oracle.paid, oracle.hits, backend.queries) == (8, 5, 3)
    with QueryLedger(tmp_path) as ledger:  # settings come from the log itself
        assert len(ledger) == 8 and ledger.output_mode == OutputMode() and ledger.clip_format == "uint8"
        seqs = [row[0] for row in ledger._db.execute("SELECT seq FROM queries ORDER BY seq")]
    assert seqs == list(range(8))


def test_kill_between_shard_and_commit_is_recovered(make_victim, make_clips, tmp_path, monkeypatch):
    oracle = LoggedOracle(make_victim(), tmp_path, shard_size=4)
    oracle.query(make_clips(4, 0))

    def die(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill after the shard is on disk (test_kill_resume does it for real)

    monkeypatch.setattr(oracle.ledger, "_commit", die)
    with pytest.raises(KeyboardInterrupt):
        oracle.query(make_clips(6, 1))
    oracle.close()
    assert len(list((tmp_path / "shards").glob("*.safetensors"))) == 2
    backend = make_victim()
    with LoggedOracle(backend, tmp_path) as resumed:
        assert resumed.paid == 8  # the paid, saved chunk was re-indexed, not lost
        resumed.query(make_clips(6, 1))
        assert backend.queries == 2 and resumed.paid == 10


def test_half_written_shard_is_discarded(victim, make_clips, tmp_path):
    with LoggedOracle(victim, tmp_path) as oracle:
        oracle.query(make_clips(2, 0))
    (tmp_path / "shards" / "000000000002.safetensors.tmp").write_bytes(b"\x00" * 10)
    with LoggedOracle(victim, tmp_path) as oracle:
        assert oracle.paid == 2
    assert not list((tmp_path / "shards").glob("*.tmp"))


def test_missing_or_stray_shards_are_errors(victim, make_clips, tmp_path):
    with LoggedOracle(victim, tmp_path, shard_size=2) as oracle:
        oracle.query(make_clips(4, 0))
    shard = tmp_path / "shards" / "000000000002.safetensors"
    shard.rename(tmp_path / "shards" / "000000000009.safetensors")
    with pytest.raises(LedgerError, match="does not continue"):
        QueryLedger(tmp_path)
    (tmp_path / "shards" / "000000000009.safetensors").unlink()
    with pytest.raises(LedgerError, match="missing shard"):
        QueryLedger(tmp_path)


def test_settings_and_second_writer_are_refused(victim, make_clips, tmp_path):
    oracle = LoggedOracle(victim, tmp_path)
    with pytest.raises(LedgerError, match="another process"):
        QueryLedger(tmp_path)
    oracle.close()
    with pytest.raises(LedgerError, match="output_mode"):
        QueryLedger(tmp_path, 5, OutputMode(kind="label"), "uint8")
    with pytest.raises(LedgerError, match="clip_format"):
        LoggedOracle(victim, tmp_path, quantize=False)


class _Garbage(Oracle):
    """A victim whose probabilities are NaN."""

    def __init__(self) -> None:
        super().__init__(5)

    def _answer(self, clips):
        return Answers(torch.zeros(len(clips), 5, dtype=torch.long), torch.full((len(clips), 5), float("nan")),
                       self.output_mode)


def test_garbage_answers_are_not_logged(make_clips, tmp_path):
    oracle = LoggedOracle(_Garbage(), tmp_path)
    with pytest.raises(OracleError, match="NaN/Inf probabilities"):
        oracle.query(make_clips(2, 0))
    assert oracle.paid == 0 and not list((tmp_path / "shards").iterdir())


def test_backend_failure_keeps_earlier_chunks(victim, make_clips, tmp_path, monkeypatch):
    oracle = LoggedOracle(victim, tmp_path, shard_size=2)
    calls = []

    def flaky(clips):
        calls.append(len(clips))
        if len(calls) == 2:
            raise OracleError("victim unreachable")
        return type(victim).query(victim, clips)

    monkeypatch.setattr(victim, "query", flaky)
    with pytest.raises(OracleError, match="unreachable"):
        oracle.query(make_clips(6, 0))
    assert oracle.paid == 2


def test_answers_attached_to_a_backend_error_are_kept(victim, make_clips, tmp_path, monkeypatch):
    """A remote victim that answered part of a batch and then failed was still paid: the log keeps that part."""
    oracle = LoggedOracle(victim, tmp_path)
    clips = make_clips(5, 0)

    def partly(batch):
        err = OracleError("remote budget ran out after 3 clips")
        err.answers = type(victim).query(victim, batch[:3])
        raise err

    monkeypatch.setattr(victim, "query", partly)
    with pytest.raises(OracleError, match="after 3 clips"):
        oracle.query(clips)
    assert oracle.paid == 3
    monkeypatch.undo()
    oracle.query(clips[:3])  # answered from the log: nothing more is paid
    assert oracle.paid == 3 and oracle.hits == 3


def test_export_writes_one_transfer_set(victim, make_clips, tmp_path):
    from safetensors.torch import load_file

    with LoggedOracle(victim, tmp_path / "log", shard_size=3) as oracle:
        answers = oracle.query(make_clips(7, 0))
        path = oracle.ledger.export(tmp_path / "transfer.safetensors")
    data = load_file(str(path))
    assert data["clips"].shape == (7, 4, 3, 16, 16) and data["clips"].dtype == torch.uint8
    assert torch.equal(data["labels"], answers.labels) and torch.equal(data["probs"], answers.probs)
