"""The CUDA paths of partial convolution (Liu et al. 2018, arXiv:1804.07723) and the U-Net:
fp16 and bf16 autocast, channels_last, torch.compile, AMP training with exact resume.

Every test here is marked `cuda`: skipped where CUDA is missing (tests/conftest.py) and run
by `benchmarks/gpu_check.sh` on a GPU machine. `PCONV_GPU_DRY_RUN=1` runs them on the CPU
with tiny sizes instead (`gpu_check.sh --dry-run`, itself run by tests/test_benchmarks.py),
so their code cannot rot between the rare times a GPU is lent. The fp32 reference is
always computed on the CPU: the path the rest of the suite checks against the paper.
"""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
import torch.nn.functional as F

from pconv.data import irregular_mask, sample_inpainting_data
from pconv.nn import InpaintingLoss, PartialConv2d, PConvUNet, UNet, bce_dice_loss
from pconv.train import TrainConfig, Trainer

pytestmark = pytest.mark.cuda

AMP = [pytest.param(torch.float16, id="fp16"), pytest.param(torch.bfloat16, id="bf16")]
# Outputs: relative L2 error against fp32, measured on the CPU at 1e-3 to 4e-3 (fp16) and 1e-2
# to 2.5e-2 (bf16), with headroom for other kernels. Gradients lose more through a deep network
# (the 31M-parameter UNet in bf16: 0.3 relative error), so they are held to their direction:
# cosine similarity to fp32, measured at 0.96 and above (the paper's PConvUNet at 256: 0.993).
OUT_TOL = {torch.float16: 0.01, torch.bfloat16: 0.05}
GRAD_COS = 0.9


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """||got - want|| / ||want||, in fp32 on the CPU."""
    got, want = got.detach().float().cpu(), want.detach().float().cpu()
    return ((got - want).norm() / want.norm()).item()


def cosine(got: torch.Tensor, want: torch.Tensor) -> float:
    """Cosine similarity of two flattened tensors, in fp64 on the CPU."""
    got, want = got.detach().double().cpu().flatten(), want.detach().double().cpu().flatten()
    return (got @ want / (got.norm() * want.norm())).item()


def flat_grads(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.detach().float().cpu().flatten() for p in model.parameters() if p.grad is not None])


def hole_masks(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 1, size, size) irregular masks from 10 % to 60 % holes, 1 = valid."""
    return torch.stack([torch.from_numpy(irregular_mask(size, size, (0.1, 0.6), rng=seed + i)) for i in range(n)])[
        :, None
    ]


def unet_config(device: torch.device, which: str) -> tuple[dict, int, int]:
    """(PConvUNet kwargs, size, batch): on CUDA, "paper" is the paper's network at 256; smaller in a dry run."""
    if device.type == "cuda":
        return ({}, 256, 2) if which == "paper" else (dict(layers=5, base_channels=32), 64, 4)
    return (dict(layers=3, base_channels=8), 32, 2) if which == "paper" else (dict(layers=3, base_channels=16), 32, 4)


@pytest.mark.parametrize("dtype", AMP)
def test_partial_conv2d_autocast(cuda_device, dtype):
    torch.manual_seed(0)
    layer = PartialConv2d(16, 32, 7, stride=2, padding=3)
    x = torch.rand(2, 16, 64, 64)
    mask = torch.ones(2, 1, 64, 64)
    mask[:, :, 6:58, 6:58] = 0  # windows with a single valid pixel (ratio K / 1) and with none
    ref, ref_mask = layer(x, mask)
    (ref**2).mean().backward()
    dev_layer = copy.deepcopy(layer).to(cuda_device)
    dev_layer.zero_grad()
    with torch.autocast(cuda_device.type, dtype=dtype):
        out, new_mask = dev_layer(x.to(cuda_device), mask.to(cuda_device))
    assert out.dtype == dtype and new_mask.dtype == torch.float32 and out.device.type == cuda_device.type
    assert torch.isfinite(out).all()
    assert torch.equal(new_mask.cpu(), ref_mask) and (ref_mask == 0).any()
    assert (out[new_mask.expand_as(out) == 0] == 0).all()
    assert rel_err(out, ref) < OUT_TOL[dtype]
    (out.float() ** 2).mean().backward()
    assert torch.isfinite(dev_layer.weight.grad).all() and dev_layer.weight.grad.dtype == torch.float32
    assert cosine(dev_layer.weight.grad, layer.weight.grad) > GRAD_COS


@pytest.mark.parametrize("which", ["mid", "paper"])
@pytest.mark.parametrize("dtype", AMP)
def test_pconv_unet_autocast_step(cuda_device, dtype, which):
    kwargs, size, batch = unet_config(cuda_device, which)
    torch.manual_seed(0)
    model = PConvUNet(**kwargs)
    image, mask = torch.rand(batch, 3, size, size), hole_masks(batch, size)
    ref, ref_mask = model(image * mask, mask)  # fp32 on the CPU, train mode
    F.l1_loss(ref, image).backward()

    net = copy.deepcopy(model).to(cuda_device)
    net.zero_grad()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    # A modest first scale, so that this one step is not skipped; the Trainer test runs the default.
    scaler = torch.amp.GradScaler(cuda_device.type, init_scale=2.0**10, enabled=dtype == torch.float16)
    img, msk = image.to(cuda_device), mask.to(cuda_device)
    with torch.autocast(cuda_device.type, dtype=dtype):
        out, out_mask = net(img * msk, msk)
        loss = F.l1_loss(out.float(), img)
    assert out.dtype == dtype and out_mask.dtype == torch.float32
    assert torch.isfinite(out).all() and torch.equal(out_mask.cpu(), ref_mask)
    assert rel_err(out, ref) < OUT_TOL[dtype], rel_err(out, ref)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    grads = flat_grads(net)
    assert torch.isfinite(grads).all()
    assert cosine(grads, flat_grads(model)) > GRAD_COS, cosine(grads, flat_grads(model))
    before = [p.detach().clone() for p in net.parameters()]
    scaler.step(opt)
    scaler.update()
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters())), "the optimizer step was skipped"

    with torch.autocast(cuda_device.type, dtype=dtype):
        filled = net.inpaint(img, msk)
    assert filled.dtype == img.dtype and torch.isfinite(filled).all()
    known = msk.expand_as(img) == 1
    assert filled.min() >= 0 and filled.max() <= 1 and torch.equal(filled[known], img[known])


def test_channels_last(cuda_device):
    torch.manual_seed(0)
    model = PConvUNet(layers=4, base_channels=16).to(cuda_device)
    image, mask = torch.rand(2, 3, 64, 64, device=cuda_device), hole_masks(2, 64).to(cuda_device)
    ref, _ = model(image * mask, mask)
    ref.square().mean().backward()
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    cl.zero_grad()
    image_cl, mask_cl = (t.contiguous(memory_format=torch.channels_last) for t in (image, mask))
    out, _ = cl(image_cl * mask_cl, mask_cl)
    assert out.is_contiguous(memory_format=torch.channels_last), "channels_last was lost inside the network"
    # Other kernels serve the other layout (in TF32 on CUDA): close, not bitwise; a layout bug is O(1).
    assert rel_err(out, ref) < 2e-2
    out.square().mean().backward()
    assert cosine(flat_grads(cl), flat_grads(model)) > 0.99
    with torch.autocast(cuda_device.type, dtype=torch.bfloat16):
        out_bf16, _ = cl(image_cl * mask_cl, mask_cl)
    assert torch.isfinite(out_bf16).all() and rel_err(out_bf16, ref) < OUT_TOL[torch.bfloat16]


def train_setup(device: torch.device, tmp_path, name: str, steps: int, **overrides):
    """A small PConvUNet, the recipe's L1 + TV loss, the sample photos and a TrainConfig."""
    size = 64 if device.type == "cuda" else 32
    torch.manual_seed(0)
    model = PConvUNet(layers=3, base_channels=16 if device.type == "cuda" else 8)
    loss_fn = InpaintingLoss(valid=1.0, hole=6.0, perceptual=0.0, style=0.0, tv=0.1, vgg=None)
    train, val = sample_inpainting_data(size, train_length=64, val_length=4, seed=0)
    settings = dict(
        steps=steps,
        batch_size=4,
        lr=1e-3,
        size=size,
        device=str(device),
        amp=True,
        num_workers=0,
        log_every=1,
        val_every=10**6,
        sample_every=10**6,
        checkpoint_every=10**6,
        out=str(tmp_path / name),
        progress=False,
    )
    return model, loss_fn, train, TrainConfig(**{**settings, **overrides})


class InterruptAt:
    """Stop a run as Ctrl-C would, after `step`."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            raise KeyboardInterrupt


class StateAtStart:
    """Copies of the model's and scaler's state when `fit` starts (after a resume has loaded)."""

    def on_fit_start(self, trainer):
        self.model = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        self.scaler = trainer.scaler.state_dict()


@pytest.mark.parametrize("dtype", AMP)
def test_trainer_amp_resumes_exactly(cuda_device, dtype, tmp_path, monkeypatch):
    if dtype == torch.float16:
        if cuda_device.type != "cuda":
            pytest.skip("the Trainer's fp16 + GradScaler path is CUDA-only (on the CPU it uses bf16)")
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)  # as on a pre-Ampere GPU
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)  # exact equality needs fixed algorithms
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)  # name any nondeterministic kernel, don't fail on it
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "straight", 4)
            straight = Trainer(model, loss_fn, config)
            straight.fit(train)
            model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "resumed", 4)
            first = Trainer(model, loss_fn, config, callbacks=[InterruptAt(2)])
            first.fit(train)
            model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "resumed", 4)
            start = StateAtStart()
            second = Trainer(model, loss_fn, config, callbacks=[start])
            history = second.fit(train, resume=True)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    nondeterministic = sorted({str(w.message).splitlines()[0] for w in caught if "deterministic" in str(w.message)})

    assert straight.amp and straight.engine.amp_dtype == (dtype if cuda_device.type == "cuda" else torch.bfloat16)
    assert straight.scaler.is_enabled() == (straight.engine.amp_dtype == torch.float16)
    assert first.step == 2 and second.step == 4
    assert [r["step"] for r in history] == [1, 2, 3, 4] and history == straight.history
    ckpt = torch.load(tmp_path / "resumed" / "ckpt_2.pt", map_location="cpu", weights_only=True)
    for k, v in ckpt["model"].items():  # the resumed run starts from exactly the saved state
        assert torch.equal(start.model[k].cpu(), v), k
    assert start.scaler == ckpt["scaler"]
    for k, v in straight.model.state_dict().items():
        assert torch.equal(second.model.state_dict()[k], v), f"{k} differs; nondeterministic ops: {nondeterministic}"
    assert second.scaler.state_dict() == straight.scaler.state_dict()


def test_trainer_channels_last_amp(cuda_device, tmp_path):
    model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "cl", 2, channels_last=True)
    trainer = Trainer(model, loss_fn, config)
    history = trainer.fit(train)
    assert [r["step"] for r in history] == [1, 2] and all(r["skipped"] == 0 for r in history)
    assert all(torch.isfinite(torch.tensor(r["loss/total"])) for r in history)
    weight = trainer.model.encoder[0].conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and torch.isfinite(weight).all()


def test_compiled_training_step(cuda_device, tmp_path, monkeypatch):
    if cuda_device.type != "cuda":
        # On the CPU, inductor writes and compiles C++ (~45 s cold on two cores), which is not what
        # a GPU runs (Triton); aot_eager still traces the step with dynamo and AOT autograd.
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "eager", 2)
    eager = Trainer(model, loss_fn, config)
    eager.fit(train)
    model, loss_fn, train, config = train_setup(cuda_device, tmp_path, "compiled", 2, compile=True)
    compiled = Trainer(model, loss_fn, config)
    compiled.fit(train)
    assert compiled.config.compile and hasattr(compiled.engine.net, "_orig_mod"), "torch.compile failed: eager fallback"
    want = [r["loss/total"] for r in eager.history]
    got = [r["loss/total"] for r in compiled.history]
    assert len(got) == 2 and all(torch.isfinite(torch.tensor(got)))
    torch.testing.assert_close(torch.tensor(got), torch.tensor(want), rtol=0.05, atol=1e-3)


@pytest.mark.parametrize("dtype", AMP)
def test_unet_amp_step(cuda_device, dtype):
    features, (h, w) = ((64, 128, 256, 512), (160, 240)) if cuda_device.type == "cuda" else ((8, 16), (32, 48))
    torch.manual_seed(0)
    net = UNet(features=features)
    image = torch.rand(2, 3, h, w)
    target = (torch.rand(2, 1, h, w) > 0.5).float()
    ref = net(image)
    bce_dice_loss(ref, target).backward()

    dev_net = copy.deepcopy(net).to(cuda_device)
    dev_net.zero_grad()
    opt = torch.optim.Adam(dev_net.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(cuda_device.type, init_scale=2.0**10, enabled=dtype == torch.float16)
    with torch.autocast(cuda_device.type, dtype=dtype):
        logits = dev_net(image.to(cuda_device))
        loss = bce_dice_loss(logits, target.to(cuda_device))
    assert logits.dtype == dtype and torch.isfinite(logits).all() and torch.isfinite(loss)
    assert rel_err(logits, ref) < OUT_TOL[dtype], rel_err(logits, ref)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    grads = flat_grads(dev_net)
    assert torch.isfinite(grads).all() and cosine(grads, flat_grads(net)) > GRAD_COS, cosine(grads, flat_grads(net))
    before = dev_net.outc.weight.detach().clone()
    scaler.step(opt)
    scaler.update()
    assert not torch.equal(before, dev_net.outc.weight), "the optimizer step was skipped"
