"""pconv.evaluation.segmentation: predictions, per-image scores, mask PNGs at full size, a tiny U-Net run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from pconv.data import SyntheticShapesDataset
from pconv.evaluation.metrics import dice_per_image, dice_score
from pconv.evaluation.segmentation import border_dice, per_image_scores, predict_masks, predict_probs, save_mask_pngs
from pconv.nn import UNet, bce_dice_loss
from pconv.train import TrainConfig, Trainer


class RedIsObject(nn.Module):
    """Logits +-10 from the red channel: a pixel is foreground iff red > 0.5. Exact and known."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 20.0
            self.conv.bias.fill_(-10.0)

    def forward(self, image):
        return self.conv(image)  # (N, 1, H, W)


def reference_dice(p: np.ndarray, t: np.ndarray) -> float:
    """2 |P & T| / (|P| + |T|), 1 for two empty masks: the Kaggle Carvana metric, written plainly."""
    p, t = p.astype(bool), t.astype(bool)
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else 2.0 * (p & t).sum() / total


def items_with_known_masks():
    """Images whose red channel is exactly the predicted mask; targets disagree by a chosen amount."""
    rng = np.random.default_rng(0)
    items = []
    for k in range(5):
        red = (rng.random((12, 16)) > 0.5).astype(np.float32)
        target = red.copy()
        target[: k * 2] = 1 - target[: k * 2]  # flip the first 2k rows: worse and worse Dice
        image = np.stack([red, rng.random((12, 16)) * 0.5, np.zeros((12, 16))]).astype(np.float32)
        items.append({"image": torch.from_numpy(image), "mask": torch.from_numpy(target)[None]})
    return items


def test_predictions_are_probabilities_then_binary_masks_and_mode_is_restored():
    model = UNet(features=(8, 16)).train()
    image = torch.rand(3, 3, 33, 47)  # odd sizes: the U-Net pads
    probs = predict_probs(model, image, batch_size=2)
    assert probs.shape == (3, 1, 33, 47) and probs.dtype == torch.float32
    assert float(probs.min()) >= 0 and float(probs.max()) <= 1
    masks = predict_masks(model, image, threshold=0.5)
    assert masks.shape == (3, 1, 33, 47)
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(masks, (probs > 0.5).float())  # eval-mode BN: the same in any batching
    assert model.training


def test_predict_masks_follows_the_threshold():
    image = torch.zeros(1, 3, 4, 4)
    image[..., :2, :] = 1.0
    masks = predict_masks(RedIsObject(), image)
    expected = torch.zeros(1, 1, 4, 4)
    expected[..., :2, :] = 1
    assert torch.equal(masks, expected)
    assert predict_masks(RedIsObject(), image, threshold=1.0).sum() == 0


def test_predict_rejects_a_single_unbatched_image():
    with pytest.raises(ValueError, match=r"image\[None\]"):
        predict_probs(RedIsObject(), torch.rand(3, 8, 8))


def test_per_image_scores_match_the_formula_in_data_order():
    items = items_with_known_masks()
    scores = per_image_scores(RedIsObject(), items, batch_size=2)
    expected = [reference_dice(it["image"][0].numpy() > 0.5, it["mask"][0].numpy()) for it in items]
    np.testing.assert_allclose(scores["dice"].numpy(), expected, atol=1e-6)
    iou = [d / (2 - d) for d in expected]  # IoU = Dice / (2 - Dice) per image
    np.testing.assert_allclose(scores["iou"].numpy(), iou, atol=1e-6)
    assert torch.equal(per_image_scores(RedIsObject(), DataLoader(items, batch_size=3))["dice"], scores["dice"])
    batch = next(iter(DataLoader(items, batch_size=len(items))))
    probs = predict_probs(RedIsObject(), batch["image"])
    assert torch.equal(dice_per_image(probs, batch["mask"]), scores["dice"])  # the same metric the loop uses


def test_per_image_scores_refuse_a_shuffled_loader():
    with pytest.raises(ValueError, match="shuffle=False"):
        per_image_scores(RedIsObject(), DataLoader(items_with_known_masks(), shuffle=True))


def test_mask_pngs_come_back_at_the_original_size_and_binary(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    sizes = {"wide.jpg": (101, 37), "sub/tall.png": (29, 77)}  # (width, height)
    for name, (w, h) in sizes.items():
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:, : w // 2, 0] = 255  # left half red: the object
        Image.fromarray(rgb).save(photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        paths = save_mask_pngs(RedIsObject(), photos, tmp_path / "masks", size=(16, 24))
    assert [p.relative_to(tmp_path / "masks").as_posix() for p in paths] == ["sub/tall_mask.png", "wide_mask.png"]
    for path, (w, h) in zip(paths, [sizes["sub/tall.png"], sizes["wide.jpg"]]):
        with Image.open(path) as png:
            assert png.size == (w, h) and png.mode == "L"
            mask = np.asarray(png)
        assert set(np.unique(mask)) <= {0, 255}
        expected = np.zeros((h, w), bool)
        expected[:, : w // 2] = True
        assert (mask.astype(bool) == expected).mean() > 0.9  # up to the resize at the boundary


def test_mask_pngs_from_a_list_get_unique_names(tmp_path):
    files = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        files.append(tmp_path / folder / "car.png")
        Image.new("RGB", (20, 10), (255, 0, 0)).save(files[-1])
    paths = save_mask_pngs(UNet(features=(8, 16)), (f for f in files), tmp_path / "out", size=16)
    assert [p.name for p in paths] == ["car_mask.png", "car_1_mask.png"]
    assert all(Image.open(p).size == (20, 10) for p in paths)


def test_mask_pngs_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        save_mask_pngs(RedIsObject(), tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        save_mask_pngs(RedIsObject(), tmp_path / "empty", tmp_path / "out")


def test_unet_trains_through_the_trainer_with_dice_and_iou_in_history(tmp_path):
    train = SyntheticShapesDataset((32, 48), length=4, split="train")
    val = SyntheticShapesDataset((32, 48), length=2, split="val")
    config = TrainConfig(
        steps=2,
        batch_size=2,
        val_every=2,
        log_every=1,
        num_workers=0,
        progress=False,
        device="cpu",
        out=str(tmp_path / "run"),
    )
    model = UNet(features=(8, 16))
    trainer = Trainer(model, bce_dice_loss, config)
    history = trainer.fit(train, val)
    assert trainer.task.name == "segmentation"
    last = history[-1]
    assert last["step"] == 2 and np.isfinite(last["loss/total"])
    assert 0 <= last["val/dice"] <= 1 and 0 <= last["val/iou"] <= last["val/dice"] + 1e-6
    assert (tmp_path / "run" / "ckpt_2.pt").is_file()
    scores = per_image_scores(model, val)
    assert scores["dice"].shape == (2,) and ((0 <= scores["dice"]) & (scores["dice"] <= 1)).all()


def test_notebook_reads_carvana_through_the_pairing_check_with_default_workers():
    """The seed's failures (FileNotFoundError in a DataLoader worker, a segfault with many workers) stay away."""
    import json
    from pathlib import Path

    nb = Path(__file__).resolve().parents[2] / "notebooks" / "05_unet_segmentation.ipynb"
    source = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
    assert "CarvanaDataset(root" in source  # pairs photos and masks when built, before training
    assert "num_workers=" not in source and "DataLoader(" not in source  # default_num_workers() decides


def reference_border_dice(pred: np.ndarray, target: np.ndarray, width: int, threshold: float = 0.5) -> float:
    """Mean over images of the Dice of the pixels (i, j) with min(i, j, H-1-i, W-1-j) < width, in loops."""
    n, h, w = pred.shape
    scores = []
    for k in range(n):
        p, t = [], []
        for i in range(h):
            for j in range(w):
                if min(i, j, h - 1 - i, w - 1 - j) < width:
                    p.append(pred[k, i, j] > threshold)
                    t.append(target[k, i, j] > 0.5)
        scores.append(reference_dice(np.array(p), np.array(t)))
    return float(np.mean(scores))


@pytest.mark.parametrize("h, w", [(20, 20), (23, 37)])
@pytest.mark.parametrize("width", [1, 3, 16])
def test_border_dice_is_the_dice_of_the_frame(h, w, width):
    rng = np.random.default_rng(width)
    pred = rng.random((3, h, w)).astype(np.float32)
    target = (rng.random((3, h, w)) > 0.6).astype(np.float32)
    target[2] = 0
    pred[2] = np.where(pred[2] > 0.5, 0.0, pred[2])  # two empty frames: Dice 1
    got = border_dice(torch.from_numpy(pred)[:, None], torch.from_numpy(target)[:, None], width=width)
    assert got.shape == () and got.dtype == torch.float32
    assert abs(float(got) - reference_border_dice(pred, target, width)) < 1e-6
    assert abs(float(border_dice(torch.from_numpy(pred), torch.from_numpy(target), width)) - float(got)) < 1e-7


def test_border_dice_ignores_the_interior_and_takes_the_whole_of_a_small_image():
    target = torch.zeros(1, 1, 40, 40)
    target[..., 10:30, 10:30] = 1  # an object that reaches from 10 px off the border inwards
    pred = target.clone()
    pred[..., 20:, :] = 0  # wrong in the interior and near the border
    interior_only = target.clone()
    interior_only[..., 16:24, 16:24] = 0  # wrong only more than 16 px from every edge
    assert float(border_dice(interior_only, target, width=16)) == 1.0
    assert float(border_dice(pred, target, width=16)) < 1.0
    assert float(border_dice(pred, target, width=20)) == float(dice_score(pred, target))  # the frame is everything


def test_border_dice_refuses_bad_arguments():
    x = torch.zeros(2, 1, 8, 8)
    for width in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="width must be an int >= 1"):
            border_dice(x, x, width=width)
    with pytest.raises(ValueError, match="same shape"):
        border_dice(x, torch.zeros(2, 1, 8, 9))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        border_dice(torch.zeros(8, 8), torch.zeros(8, 8))
