"""VGG16 up to pool3, the fixed feature extractor of the perceptual and style losses.

Liu et al. 2018 (arXiv:1804.07723), Section 3.4, compare pool1..pool3 features of VGG16
(Simonyan & Zisserman 2015, configuration "D") pre-trained on ImageNet. `VGG16Features`
builds those layers with torchvision's indices and loads its ImageNet weights from the
torch hub cache, a file, or one bounded download: an offline machine fails within
`DOWNLOAD_TIMEOUT_S` with an error that says how to fix it, never hangs. `auto_vgg` is
the forgiving form `InpaintingLoss(vgg="auto")` uses.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from pconv.utils import user_path

__all__ = ["VGG16Features", "VGGWeightsError", "auto_vgg"]

# VGG16 "D" configuration up to pool3 (Simonyan & Zisserman 2015, Table 1); "M" = max-pool.
_VGG16_TO_POOL3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M")
_POOL_INDICES = (4, 9, 16)  # pool1, pool2, pool3 inside torchvision's vgg16().features
DOWNLOAD_TIMEOUT_S = 15.0  # per socket operation; an offline machine fails fast instead of hanging
_download_error: str | None = None  # first failed download in this process; not retried
_warned_no_vgg = False  # "auto" warns once per process


class VGGWeightsError(RuntimeError):
    """torchvision's ImageNet VGG16 weights cannot be loaded (offline, not cached, or a corrupt cache).

    The message says how to fix it; the CLI prints it as one line with exit status 2.
    """


def _imagenet_url() -> str:
    from torchvision.models import VGG16_Weights  # only imported when ImageNet weights are asked for

    return VGG16_Weights.IMAGENET1K_V1.url


def _reachable(url: str, timeout: float) -> str | None:
    """None if a TCP connection to the URL's host opens within `timeout`, else the reason.

    A daemon thread probes, so a stalled DNS lookup (deaf to socket timeouts) cannot hang us.
    """
    parts = urlparse(url)
    result: list[str | None] = [f"no connection to {parts.hostname} within {timeout:g} s"]

    def probe() -> None:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
            result[0] = None
        except OSError as exc:
            result[0] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0]


def _load_imagenet_state() -> dict[str, Tensor]:
    """torchvision's ImageNet VGG16 state_dict from the torch hub cache, else one bounded download."""
    global _download_error
    url = _imagenet_url()
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
    was_cached = cached.exists()
    reason = None if was_cached else (_download_error or _reachable(url, DOWNLOAD_TIMEOUT_S))
    if reason is None:
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # torch.hub's urlopen takes no timeout of its own
        try:
            return torch.hub.load_state_dict_from_url(url, check_hash=True, map_location="cpu", weights_only=True)
        except Exception as exc:  # network errors, truncated or corrupt files, hash mismatches
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            socket.setdefaulttimeout(previous)
    if was_cached:
        where = f"the cached file {cached} could not be read ({reason}); delete or replace it"
    else:
        _download_error = reason  # do not try the network again in this process
        where = f"{cached} is not in the torch hub cache and downloading {url} failed ({reason})"
    raise VGGWeightsError(
        f"Could not load torchvision's ImageNet VGG16 weights: {where}. To fix: on a machine with network run "
        "`python -c \"import torchvision; torchvision.models.vgg16(weights='IMAGENET1K_V1')\"` and copy "
        f"{cached.name} from its $TORCH_HOME/hub/checkpoints into {cached.parent} here (TORCH_HOME picks the "
        "cache), or pass vgg='/path/to/vgg16-weights.pth'; or use vgg='auto' or None to go without the "
        "perceptual and style terms."
    )


class VGG16Features(nn.Module):
    """Frozen VGG16 up to pool3 returning the pool1, pool2 and pool3 features (paper Section 3.4).

    Args:
        weights: "imagenet" (torchvision's `VGG16_Weights.IMAGENET1K_V1`, from the torch hub
            cache or one download; `VGGWeightsError` if neither works), a path to a file holding a
            state_dict of torchvision's `vgg16()` or of its `.features` (layers past pool3 and
            the classifier are ignored), or None (random initialisation: for tests).

    The module never trains: its parameters do not require grad and it stays in eval mode
    even when a parent module is `.train()`-ed. ImageNet normalisation happens inside.
    """

    def __init__(self, weights: str | os.PathLike | None = "imagenet") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for v in _VGG16_TO_POOL3:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = v
        self.features = nn.Sequential(*layers)  # same indices as torchvision's vgg16().features
        # ImageNet statistics that torchvision's weights were trained with; derived, so not saved.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            if weights == "imagenet":
                state, source = _load_imagenet_state(), "torchvision ImageNet weights"
            else:
                path = user_path(weights)  # ~ expanded, made absolute: the message names the real file
                if not path.is_file():
                    raise FileNotFoundError(
                        f"VGG16 weights file {str(path)!r} does not exist; pass an existing file holding a "
                        "vgg16 state_dict, or weights='imagenet' / None"
                    )
                try:
                    state, source = torch.load(path, map_location="cpu", weights_only=True), str(path)
                except Exception as exc:
                    raise ValueError(f"could not read VGG16 weights from {str(path)!r}: {exc}") from exc
            self._load(state, source)
        self.requires_grad_(False)
        self.eval()

    def _load(self, state: Mapping[str, Tensor], source: str) -> None:
        if not isinstance(state, Mapping):
            raise ValueError(f"{source}: expected a state_dict (names to tensors), got {type(state).__name__}")
        if not any(k.startswith("features.") for k in state):
            state = {f"features.{k}": v for k, v in state.items()}  # a state_dict of vgg16().features
        wanted = self.state_dict().keys()
        try:
            self.load_state_dict({k: v for k, v in state.items() if k in wanted})
        except RuntimeError as exc:
            raise ValueError(f"{source} does not hold VGG16 weights (torchvision layout): {exc}") from exc

    def train(self, mode: bool = True) -> VGG16Features:
        """Stay in eval mode whatever `mode` is: the feature extractor is frozen."""
        return super().train(False)

    def forward(self, image: Tensor) -> list[Tensor]:
        """Pool features of paper Section 3.4.

        Args:
            image: (N, 3, H, W) in [0, 1], H and W at least 8.

        Returns:
            [pool1 (N, 64, H/2, W/2), pool2 (N, 128, H/4, W/4), pool3 (N, 256, H/8, W/8)].
        """
        if image.ndim != 4 or image.shape[1] != 3 or min(image.shape[-2:]) < 8:
            raise ValueError(f"VGG16Features expects images of shape (N, 3, H>=8, W>=8), got {tuple(image.shape)}")
        x = (image - self.mean) / self.std
        feats = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _POOL_INDICES:
                feats.append(x)
        return feats


def auto_vgg() -> VGG16Features | None:
    """`InpaintingLoss(vgg="auto")`: ImageNet VGG16 features when they load, else None.

    Without the weights (offline, no cached file) it warns once per process, since notebooks
    rebuild their losses, and the loss leaves out its perceptual and style terms.

    Returns:
        A frozen `VGG16Features` with torchvision's ImageNet weights, or None.
    """
    global _warned_no_vgg
    try:
        return VGG16Features("imagenet")
    except VGGWeightsError as exc:
        if not _warned_no_vgg:
            _warned_no_vgg = True
            msg = "InpaintingLoss(vgg='auto') leaves out the perceptual and style terms (absent from its dict)."
            warnings.warn(f"{msg} {exc}", stacklevel=3)
        return None
