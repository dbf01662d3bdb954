"""pconv.data: images, hole masks, datasets, loaders and Kaggle downloads.

Images: `load_image`, `ImageFolderDataset`, the offline `sample_images`. Masks (1 = known
pixel, 0 = hole): `irregular_mask` and `MaskGenerator` (the free-form strokes of Yu et al.
2019, arXiv:1806.03589), `MaskFolder` (NVIDIA-style mask files), the binned test set
`make_test_masks` / `load_test_masks` and `PAPER_HOLE_BINS` (Liu et al. 2018, Table 1).
`InpaintingDataset` pairs images with masks; `CarvanaDataset` and `SyntheticShapesDataset`
serve the U-Net; `make_loader` and `endless_batches` feed the trainer; `download` fetches
Kaggle data (kaggle/, the client imported only when used).

Imports: `pconv.utils` only; never `pconv.nn` or a room above (pyproject.toml,
[tool.importlinter]). Start with masks.py and pairing.py; docs/architecture.md maps the rest.
"""

from pconv.data.exif import displayed_size, exif_upright
from pconv.data.hole_bins import PAPER_HOLE_BINS, bin_label, bin_of
from pconv.data.image_files import find_images
from pconv.data.image_folder import ImageFolderDataset
from pconv.data.image_io import ImageLoadError, load_image, to_tensor
from pconv.data.kaggle.client import KaggleError
from pconv.data.kaggle.download import DATASETS, credentials_status, download
from pconv.data.loaders import default_num_workers, endless_batches, first_batch, loader_seed, make_loader, to_device
from pconv.data.mask_folder import MaskFolder
from pconv.data.mask_manifest import MaskSetError
from pconv.data.mask_sets import fixed_test_masks, load_test_masks, make_test_masks
from pconv.data.masks import FAMILIES, MaskGenerator, hole_ratio, irregular_mask
from pconv.data.pairing import InpaintingDataset
from pconv.data.publish import publish_folder
from pconv.data.samples import SampleImageDataset, sample_images, sample_inpainting_data, sample_names, sample_photo
from pconv.data.seg_datasets import CarvanaDataset, SyntheticShapesDataset

__all__ = [
    "CarvanaDataset",
    "DATASETS",
    "FAMILIES",
    "ImageFolderDataset",
    "ImageLoadError",
    "InpaintingDataset",
    "KaggleError",
    "MaskFolder",
    "MaskGenerator",
    "MaskSetError",
    "PAPER_HOLE_BINS",
    "SampleImageDataset",
    "SyntheticShapesDataset",
    "bin_label",
    "bin_of",
    "credentials_status",
    "default_num_workers",
    "displayed_size",
    "download",
    "endless_batches",
    "exif_upright",
    "find_images",
    "first_batch",
    "fixed_test_masks",
    "hole_ratio",
    "irregular_mask",
    "load_image",
    "load_test_masks",
    "loader_seed",
    "make_loader",
    "make_test_masks",
    "publish_folder",
    "sample_images",
    "sample_inpainting_data",
    "sample_names",
    "sample_photo",
    "to_device",
    "to_tensor",
]
