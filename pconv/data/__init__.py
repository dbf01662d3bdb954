"""pconv.data."""

from pconv.data.hole_bins import PAPER_HOLE_BINS, bin_label, bin_of
from pconv.data.image_folder import ImageFolderDataset, default_num_workers
from pconv.data.image_io import ImageLoadError, find_images, load_image, to_tensor
from pconv.data.kaggle.client import KaggleError
from pconv.data.kaggle.download import DATASETS, credentials_status, download
from pconv.data.loaders import endless_batches, first_batch, loader_seed, make_loader, to_device
from pconv.data.mask_drawing import FAMILIES
from pconv.data.mask_folder import MaskFolder
from pconv.data.mask_manifest import MaskSetError
from pconv.data.masks import (
    MaskGenerator,
    fixed_test_masks,
    hole_ratio,
    irregular_mask,
    load_test_masks,
    make_test_masks,
)
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
    "download",
    "endless_batches",
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
