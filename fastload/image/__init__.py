"""Image decoding and transforms for training pipelines.

* :func:`read_header` / :func:`decode`: JPEG through libjpeg-turbo (region of interest,
  DCT-domain scaling, GIL released), PNG and other formats through Pillow;
  :func:`backend` says which JPEG decoder is in use.
* :func:`resized_crop`, :func:`normalize`, :func:`decode_resized_crop`: one fused
  resample + flip + normalize + layout/dtype kernel writing into a caller buffer.
* Transforms (``sample_params(rng, info)`` / ``apply``): :class:`RandomResizedCrop`,
  :class:`CenterCrop`, :class:`ResizeShorter`, :class:`Normalize`, :class:`RandomFlip`,
  composed by :class:`Compose`.
"""

from fastload.image.codec import (
    ImageInfo,
    backend,
    decode,
    get_max_image_pixels,
    huffman_decoder,
    read_header,
    set_backend,
    set_huffman_decoder,
    set_max_image_pixels,
)
from fastload.image.ops import (
    center_crop_box,
    decode_resized_crop,
    flip_left_right,
    normalize,
    output_spec,
    resize_shorter_box,
    resize_shorter_size,
    resized_crop,
)
from fastload.image.transforms import (
    CenterCrop,
    Compose,
    CropParams,
    FlipParams,
    Normalize,
    RandomFlip,
    RandomResizedCrop,
    ResizeShorter,
    sample_crop_nvidia,
    sample_crop_reference,
)

__all__ = [
    "CenterCrop",
    "Compose",
    "CropParams",
    "FlipParams",
    "ImageInfo",
    "Normalize",
    "RandomFlip",
    "RandomResizedCrop",
    "ResizeShorter",
    "backend",
    "center_crop_box",
    "decode",
    "decode_resized_crop",
    "flip_left_right",
    "get_max_image_pixels",
    "huffman_decoder",
    "normalize",
    "output_spec",
    "read_header",
    "resize_shorter_box",
    "resize_shorter_size",
    "resized_crop",
    "sample_crop_nvidia",
    "sample_crop_reference",
    "set_backend",
    "set_huffman_decoder",
    "set_max_image_pixels",
]
