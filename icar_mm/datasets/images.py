"""Image loading that says what is wrong with an unreadable file."""

import os.path as osp

from mmcv.transforms import LoadImageFromFile as _LoadImageFromFile

from ..registry import TRANSFORMS


class ImageReadError(RuntimeError):
    """An image file that cannot be decoded; the message names it and what it holds."""


@TRANSFORMS.register_module()
class LoadImageFromFile(_LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (same arguments); a missing, empty or
    undecodable file raises :class:`ImageReadError` naming the file, its size
    and first bytes, instead of a bare assertion deep in the data loader."""

    def transform(self, results: dict):
        try:
            return super().transform(results)
        except Exception as e:  # missing, unreadable, empty (cv2.error), undecodable (assertion)
            raise ImageReadError(describe_unreadable(results['img_path'])) from e


def describe_unreadable(path: str) -> str:
    if not osp.isfile(path):
        found = 'no such file'
    else:
        with open(path, 'rb') as f:
            head = f.read(12)
        size = osp.getsize(path)
        found = 'an empty file' if size == 0 else f'{size} bytes starting with {head!r}'
    return (
        f'Cannot read image {path}: expected a JPEG, PNG or other image OpenCV decodes, found {found}. '
        'Copy the file again, or remove it from the annotation file.'
    )
