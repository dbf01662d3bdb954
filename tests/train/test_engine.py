"""pconv.train.engine: one optimizer step against a plain Adam step, skipped non-finite steps, AMP on the CPU,
the validation pass weighted by batch size, the two phases and the eager fallback of torch.compile."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import torch
from tiny_run import Pairs, TinyInpaint, l1_terms, make_trainer

from pconv.nn import PConvUNet
from pconv.train import TrainConfig
from pconv.train.checkpoint import CheckpointError
from pconv.train.engine import Engine
from pconv.train.tasks import InpaintingTask

LR = 1e-2


def make_engine(loss=l1_terms, task=None, **kw) -> Engine:
    torch.manual_seed(0)
    config = TrainConfig(**{"device": "cpu", "lr": LR, "steps": 4, "num_workers": 0, **kw})
    return Engine(TinyInpaint(), loss, task or InpaintingTask(), config)


def make_batch(n=4, size=16, seed=1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)  # (N, 3, H, W) in [0, 1]
    return {"image": image, "mask": (torch.rand(n, 1, size, size, generator=g) > 0.3).float()}  # 1 = known


def test_one_step_returns_the_loss_terms_and_moves_each_weight_by_lr_against_its_gradient():
    engine, batch = make_engine(), make_batch()
    reference = copy.deepcopy(engine.model)  # the same step written plainly on a copy
    before = {k: v.detach().clone() for k, v in engine.model.named_parameters()}
    torch.manual_seed(5)  # the same dropout draws in both
    image, mask = batch["image"], batch["mask"]
    expected = l1_terms(reference(image * mask, mask)[0], image, mask)
    expected["total"].backward()
    torch.manual_seed(5)
    terms = engine.step(engine.batch(batch))
    assert set(terms) == {"valid", "hole", "total"} and all(isinstance(v, float) for v in terms.values())
    assert terms == pytest.approx({k: float(v.detach()) for k, v in expected.items()}, rel=1e-5)
    grads, checked = dict(reference.named_parameters()), 0
    for name, w in engine.model.named_parameters():
        g = grads[name].grad
        big = g.abs() > 1e-3  # Adam's first step: lr * g / (|g| + eps), i.e. lr against the gradient's sign
        moved = before[name] - w.detach()
        assert torch.allclose(moved[big], LR * g[big].sign(), atol=1e-6), name
        checked += int(big.sum())
    assert checked > 100  # (enc.bias has no gradient: the batch norm after it removes it)


def test_a_non_finite_loss_skips_the_step_and_changes_nothing():
    engine = make_engine(loss=lambda output, image, mask: {"total": output.sum() * float("nan")})
    before = copy.deepcopy(engine.model.state_dict())
    assert engine.step(engine.batch(make_batch())) is None
    params = dict(engine.model.named_parameters())
    assert all(torch.equal(before[k], p) for k, p in params.items())
    assert engine.optimizer.state_dict()["state"] == {}  # Adam took no step
    assert engine.weights_finite()
    with torch.no_grad():
        engine.model.bn.running_mean[0] = float("inf")  # a buffer counts too
    assert not engine.weights_finite()


def test_amp_is_off_on_the_cpu_unless_asked_and_then_bf16_without_a_scaler():
    engine = make_engine()
    assert not engine.amp and not engine.scaler.is_enabled() and engine.device.type == "cpu"
    with engine.autocast():
        assert not torch.is_autocast_enabled("cpu")
    engine = make_engine(amp=True)
    assert engine.amp and engine.amp_dtype == torch.bfloat16 and not engine.scaler.is_enabled()
    with engine.autocast():
        assert torch.is_autocast_enabled("cpu")
    terms = engine.step(engine.batch(make_batch()))
    assert terms is not None and all(v == v for v in terms.values())  # finite under bf16


class FirstPixel(InpaintingTask):
    """A metric that is the batch mean of the first pixel: its validation mean is easy to count by hand."""

    def __init__(self):
        self.modes = []

    def metrics(self, model, batch):
        self.modes.append(model.training)
        return {"first": float(batch["image"][:, 0, 0, 0].mean())}


def test_validate_weights_each_batch_by_its_size_in_eval_mode_and_returns_to_training():
    task = FirstPixel()
    engine = make_engine(task=task)
    three_ones = {"image": torch.ones(3, 3, 16, 16), "mask": torch.ones(3, 1, 16, 16)}
    one_five = {"image": torch.full((1, 3, 16, 16), 5.0), "mask": torch.ones(1, 1, 16, 16)}
    loader = [three_ones, one_five]
    assert engine.validate(loader, max_batches=10) == {"first": pytest.approx((3 * 1 + 1 * 5) / 4)}  # not 3.0
    assert engine.validate(loader, max_batches=1) == {"first": pytest.approx(1.0)}
    assert engine.validate([], max_batches=10) == {}
    assert task.modes and not any(task.modes) and engine.model.training


def test_the_second_phase_lowers_the_lr_and_freezes_the_encoder_bn_once():
    engine = make_engine(steps=4, finetune_steps=2, lr=1e-3, finetune_lr=1e-4)
    engine.set_phase(1)
    assert engine.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3) and not engine.frozen
    engine.set_phase(2)
    assert engine.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4) and engine.frozen and engine.model.frozen
    engine.validate([make_batch()], max_batches=1)
    assert engine.model.training and not engine.model.bn.training  # validation kept BN frozen after it


def test_state_and_load_state_round_trip_the_weights_and_optimizer():
    engine = make_engine()
    engine.step(engine.batch(make_batch()))
    other = make_engine()
    other.load_state({**engine.state(), "config": {"model": engine.model_info}}, path=None)
    for k, v in engine.model.state_dict().items():
        assert torch.equal(v, other.model.state_dict()[k]), k
    assert other.optimizer.state_dict()["state"].keys() == engine.optimizer.state_dict()["state"].keys()


def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, caplog):
    def bad_compile(net):
        def fail(*a, **k):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", bad_compile)
    t = make_trainer(tmp_path, steps=2, compile=True)
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        t.fit(Pairs())
    assert t.step == 2 and "torch.compile failed" in caplog.text


@pytest.mark.parametrize(("saved", "now"), [("plain", "partial"), ("partial", "gated")])
def test_resume_refuses_a_checkpoint_of_another_convolution_kind_even_when_its_weights_fit(saved, now):
    def engine(conv):
        torch.manual_seed(0)
        config = TrainConfig(device="cpu", lr=LR, steps=4, num_workers=0)
        return Engine(PConvUNet(layers=2, base_channels=4, conv=conv), l1_terms, InpaintingTask(), config)

    old = engine(saved)
    ckpt = {**old.state(), "config": {"model": old.model_info}}
    with pytest.raises(CheckpointError, match=rf"conv='{saved}' \(now '{now}'\).*--conv {saved}"):
        engine(now).load_state(ckpt, path=Path("ckpt_4.pt"))
