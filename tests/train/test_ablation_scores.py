"""Tests for pconv.train.ablation_scores: the per-bin table over seeds, the hole-value sensitivity and the
border Dice, each checked against a plain computation written here."""

from __future__ import annotations

import math

import pytest
import torch

from pconv.evaluation.report import InpaintingReport
from pconv.nn import PConvUNet, UNet
from pconv.train import ablation_settings, hole_value_sensitivity, model_info, save_checkpoint, score_segmentation
from pconv.train.ablation_scores import inpainting_test_set, per_bin_table, score_inpainting
from pconv.train.ablations import ArmRun, arm_data

BINS = ["1-10%", "10-20%", "20-30%"]


def report(methods: dict[str, float]) -> InpaintingReport:
    """Per method a base PSNR; bin i holds 2, 1 and 0 images, its PSNR base - i, its SSIM 0.9 - 0.1 i."""
    results = {
        m: {b: {"psnr": base - i, "ssim": 0.9 - 0.1 * i, "l1": 0.01, "n": (2, 1, 0)[i]} for i, b in enumerate(BINS)}
        for m, base in methods.items()
    }
    return InpaintingReport(results=results, methods=list(methods), bins=list(BINS))


def test_per_bin_table_keeps_every_seed_and_weights_all_by_images():
    table = per_bin_table([report({"partial": 20.0, "telea": 25.0}), report({"partial": 22.0})], seeds=[0, 1])
    assert table.columns == ["1-10%", "10-20%", "all"]  # the empty bin is left out
    assert table.values("PSNR (dB)", "partial", "1-10%") == [20.0, 22.0]
    assert table.values("PSNR (dB)", "partial", "10-20%") == [19.0, 21.0]
    assert table.values("PSNR (dB)", "partial", "all") == pytest.approx([(2 * 20 + 19) / 3, (2 * 22 + 21) / 3])
    assert table.values("PSNR (dB)", "telea", "all") == pytest.approx([(2 * 25 + 24) / 3])  # scored once
    assert table.values("SSIM", "partial", "10-20%") == pytest.approx([0.8, 0.8])
    assert [k for k in table.cells] == [(g, m) for g in ("PSNR (dB)", "SSIM") for m in ("partial", "telea")]
    assert table.best("PSNR (dB)", "all") == "telea" and "seeds [0, 1]" in table.notes[0]
    with pytest.raises(ValueError, match="reports is empty"):
        per_bin_table([], [])


def tiny(conv: str, seed: int = 0, **kw) -> PConvUNet:
    torch.manual_seed(seed)
    return PConvUNet(layers=2, base_channels=4, conv=conv, **kw).eval()


def psnr_plain(comp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    mse = ((comp - image) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


def test_hole_value_sensitivity_partial_unchanged_plain_not():
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(3, 3, 16, 16, generator=gen)
    mask = torch.ones(3, 1, 16, 16)
    mask[:, :, 4:12, 3:10] = 0
    models = {("partial", 0): tiny("partial"), ("plain-0.5", 0): tiny("plain"), ("plain-0.5", 1): tiny("plain", 1)}
    models[("plain-0.5", 1)].hole_value = "imagenet"  # trained with another value: restored after
    result = hole_value_sensitivity(models, image, mask, (0.0, 0.5, "imagenet"), batch_size=2)
    assert result.unchanged == {"partial": True, "plain-0.5": False}
    assert result.table.columns == ["0", "0.5", "ImageNet mean"]
    assert models[("plain-0.5", 0)].hole_value == 0.5 and models[("plain-0.5", 1)].hole_value == "imagenet"
    # the plain network with black holes, computed here: holes at 0, output composited, PSNR per image
    net = models[("plain-0.5", 0)]
    net.hole_value = 0.0
    with torch.no_grad():
        out = net(image * mask, mask)[0].clamp(0, 1)
    net.hole_value = 0.5
    expected = psnr_plain(mask * image + (1 - mask) * out, image).mean().item()
    assert result.table.values("PSNR (dB)", "plain-0.5", "0")[0] == pytest.approx(expected, abs=1e-4)
    assert len(result.table.values("PSNR (dB)", "plain-0.5", "0.5")) == 2  # two seeds
    partial = [result.table.mean("PSNR (dB)", "partial", c) for c in result.table.columns]
    assert partial[0] == partial[1] == partial[2]
    with pytest.raises(ValueError, match="at least one model and one hole value"):
        hole_value_sensitivity({}, image, mask)


def save_run(model, task: str, arm: str, seed: int, folder) -> ArmRun:
    path = folder / f"{arm}-{seed}" / "best.pt"
    config = {"size": 32, "model": model_info(model), "task": task}
    save_checkpoint({"step": 1, "model": model.state_dict(), "config": config}, path)
    return ArmRun(task, arm, seed, path.parent, path, 1, 0.0, math.nan)


def test_score_segmentation_matches_dice_computed_by_hand(tmp_path):
    s = ablation_settings("cpu", smoke=True)
    runs = []
    for seed in (0, 1):
        for arm, padding in (("zeros", "zeros"), ("partial", "partial")):
            torch.manual_seed(seed)
            runs.append(save_run(UNet(features=(4, 8), padding=padding).eval(), "segmentation", arm, seed, tmp_path))
    table = score_segmentation(runs, s, width=4, batch_size=3)  # 4 held-out images: batches of 3 and 1
    assert table.columns == ["whole image", "within 4 px of the border"]
    _, held_out = arm_data(s, "segmentation", 0)
    image = torch.stack([held_out[i]["image"] for i in range(len(held_out))])
    target = torch.stack([held_out[i]["mask"] for i in range(len(held_out))]) > 0.5
    h, w = s.seg_size
    rows, cols = torch.arange(h), torch.arange(w)
    frame = ((rows < 4) | (rows >= h - 4))[:, None] | ((cols < 4) | (cols >= w - 4))[None, :]

    def dice(p, t):
        total = p.sum() + t.sum()
        return 1.0 if total == 0 else (2 * (p & t).sum() / total).item()

    for run in runs[2:]:  # seed 1
        torch.manual_seed(1)
        net = UNet(features=(4, 8), padding=run.arm).eval()
        with torch.no_grad():
            pred = torch.sigmoid(net(image)) > 0.5
        whole = sum(dice(pred[i], target[i]) for i in range(len(image))) / len(image)
        near = sum(dice(pred[i][:, frame], target[i][:, frame]) for i in range(len(image))) / len(image)
        assert table.values("Dice", run.arm, "whole image")[1] == pytest.approx(whole, abs=1e-6)
        assert table.values("Dice", run.arm, "within 4 px of the border")[1] == pytest.approx(near, abs=1e-6)
    assert "over 4 held-out images" in table.notes[0]
    with pytest.raises(ValueError, match="runs is empty"):
        score_segmentation([], s)


def test_score_inpainting_scores_every_seed_and_the_fills_once(tmp_path):
    s = ablation_settings("cpu", smoke=True)
    runs = [
        save_run(tiny(conv, seed), "inpainting", arm, seed, tmp_path)
        for seed in (0, 1)
        for arm, conv in (("partial", "partial"), ("plain-0.5", "plain"))
    ]
    scores = score_inpainting(runs, s, baselines=["harmonic"])
    assert list(scores.comparisons) == [0, 1]
    assert scores.comparisons[0].methods == ["partial", "plain-0.5", "harmonic"]
    assert scores.comparisons[1].methods == ["partial", "plain-0.5"]
    assert scores.models[("plain-0.5", 1)].config["conv"] == "plain"
    table = scores.table
    assert [r for g, r in table.cells if g == "SSIM"] == ["partial", "plain-0.5", "harmonic"]
    assert len(table.values("PSNR (dB)", "harmonic", "all")) == 1 and len(table.values("SSIM", "partial", "all")) == 2
    images, masks = inpainting_test_set(s)
    assert len(masks) == 6 * s.per_bin and len(images) == len(masks)
    comp = scores.comparisons[1]  # the PSNR over all test images, from the stored composites
    expected = psnr_plain(comp.fills["plain-0.5"], comp.image).mean().item()
    assert table.values("PSNR (dB)", "plain-0.5", "all")[1] == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ValueError, match="runs is empty"):
        score_inpainting([], s)
