"""Video input that does not fall over.

* :class:`VideoInit` / :class:`VideoDecode`: mmaction's Decord, PyAV and
  OpenCV transforms tried in order (decord and PyAV are optional; OpenCV is
  always there). A video no back-end reads raises :class:`VideoReadError`
  naming the file and what each back-end said.
* :class:`OVVideoDataset`: mmaction's ``VideoDataset`` whose label indices are
  named by a vocabulary (``metainfo['classes']`` for ``VocabularyHook`` and
  ``OVAccMetric``), optionally keeping only some classes (base-to-novel
  training), and optionally skipping corrupt videos (``skip_corrupt=True``):
  in training a failed clip is replaced by another (mmengine's refetch) and
  counted in the log; in test mode, where mmengine does not refetch, videos
  that no back-end opens are found when the dataset is built and left out,
  named in the log.
"""

import importlib.util
from typing import List, Optional, Sequence

import numpy as np
from mmaction.datasets import VideoDataset
from mmaction.datasets.transforms import DecordDecode, DecordInit, OpenCVDecode, OpenCVInit, PyAVDecode, PyAVInit
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from ..registry import DATASETS, TRANSFORMS
from ..text.vocabulary import VocabularyLike, load_vocabulary

BACKENDS = ('decord', 'pyav', 'opencv')
_MODULES = dict(decord='decord', pyav='av', opencv='cv2')
_INSTALL = dict(decord='pip install decord', pyav='pip install av', opencv='pip install opencv-python')


class VideoReadError(RuntimeError):
    """A video that no available back-end could read; the message names the file."""


def available_backends(backends: Sequence[str] = BACKENDS) -> List[str]:
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f'Unknown video back-ends {unknown}; choose from {BACKENDS}.')
    found = [b for b in backends if importlib.util.find_spec(_MODULES[b]) is not None]
    if not found:
        raise ImportError(
            f'None of the video back-ends {list(backends)} is installed: '
            + '; '.join(f'{b}: {_INSTALL[b]}' for b in backends)
        )
    return found


def _raise_unreadable(filename: str, errors: List[str]) -> None:
    raise VideoReadError(
        f'Cannot read video {filename!r}: ' + '; '.join(errors) + '. The file is missing, truncated or '
        'in a format no installed back-end decodes. Re-encode it (ffmpeg -i IN -c:v libx264 OUT.mp4), '
        'install another back-end (pip install decord / av), or skip such files with '
        'skip_corrupt=True on the icar_mm.OVVideoDataset.'
    )


@TRANSFORMS.register_module()
class VideoInit(BaseTransform):
    """Open a video with the first back-end that reads it (mmaction's
    ``DecordInit``, ``PyAVInit``, ``OpenCVInit``): adds ``video_reader``,
    ``total_frames`` and ``video_backend``.

    Args:
        backends: back-ends to try, in order; those not installed are left out.
        io_backend / num_threads / kwargs: as mmaction's ``DecordInit``.
    """

    def __init__(
        self, backends: Sequence[str] = BACKENDS, io_backend: str = 'disk', num_threads: int = 1, **kwargs
    ) -> None:
        self.backends = available_backends(backends)
        self._init = dict(
            decord=lambda: DecordInit(io_backend, num_threads, **kwargs),
            pyav=lambda: PyAVInit(io_backend, **kwargs),
            opencv=lambda: OpenCVInit(io_backend, **kwargs),
        )
        self._openers = {}

    def open(self, results: dict, backends: Sequence[str], errors: List[str]) -> bool:
        """Try ``backends`` in order; True when one opened the video."""
        for backend in backends:
            try:
                if backend not in self._openers:
                    self._openers[backend] = self._init[backend]()
                self._openers[backend].transform(results)
                if not results.get('total_frames', 0) > 0:
                    raise ValueError('no frames')
            except Exception as e:  # each back-end fails in its own way; all are reported
                errors.append(f'{backend}: {type(e).__name__}: {str(e).strip()[:200]}')
                results.pop('video_reader', None)
                continue
            results['video_backend'] = backend
            results['video_backends_left'] = list(backends[backends.index(backend) + 1 :])
            return True
        return False

    def transform(self, results: dict) -> dict:
        errors: List[str] = []
        if not self.open(results, self.backends, errors):
            _raise_unreadable(results['filename'], errors)
        results['video_open_errors'] = errors
        results['video_init'] = self
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backends={self.backends})'


@TRANSFORMS.register_module()
class VideoDecode(BaseTransform):
    """Decode ``frame_inds`` with the back-end :class:`VideoInit` opened the
    video with (mmaction's decode transforms); when decoding fails, the next
    back-ends re-open and decode it; when all fail, :class:`VideoReadError`.

    Args:
        mode: ``'accurate'`` or ``'efficient'`` (Decord and PyAV, as in mmaction).
    """

    def __init__(self, mode: str = 'accurate') -> None:
        self.mode = mode
        self._decoders = dict(decord=DecordDecode(mode), pyav=PyAVDecode(mode=mode), opencv=OpenCVDecode())

    def transform(self, results: dict) -> dict:
        if 'video_backend' not in results:
            raise KeyError("VideoDecode needs dict(type='icar_mm.VideoInit') earlier in the pipeline.")
        opener: VideoInit = results.pop('video_init')
        errors: List[str] = results.pop('video_open_errors')
        frame_inds = results['frame_inds']
        while True:
            backend = results['video_backend']
            try:
                self._decoders[backend].transform(results)
                imgs = results['imgs']
                if not len(imgs) or any(img is None for img in imgs) or len({img.shape for img in imgs}) != 1:
                    raise ValueError('frames missing or of different sizes')
                break
            except Exception as e:
                errors.append(f'{backend} decode: {type(e).__name__}: {str(e).strip()[:200]}')
                results['video_reader'] = None
                if not opener.open(results, results['video_backends_left'], errors):
                    _raise_unreadable(results['filename'], errors)
                # the next back-end may count frames differently
                results['frame_inds'] = np.clip(frame_inds, 0, results['total_frames'] - 1)
        for key in ('video_backends_left',):
            results.pop(key, None)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(mode={self.mode})'


@DATASETS.register_module()
class OVVideoDataset(VideoDataset):
    """mmaction's ``VideoDataset`` (``<file> <label>`` lines) with named classes.

    Args:
        vocabulary: the classes the labels index (``'kinetics400'``, ``'ucf101'``,
            a list or a file); becomes ``metainfo['classes']``. None: unnamed.
        keep_classes: optional subset of ``vocabulary`` (e.g. ``'kinetics400:base'``):
            clips of other classes are left out; labels keep indexing ``vocabulary``.
        skip_corrupt: skip unreadable videos instead of stopping (see module doc).
        **kwargs: ``VideoDataset`` arguments.
    """

    def __init__(
        self,
        *args,
        vocabulary: Optional[VocabularyLike] = None,
        keep_classes: Optional[VocabularyLike] = None,
        skip_corrupt: bool = False,
        **kwargs,
    ):
        self.vocabulary = load_vocabulary(vocabulary) if vocabulary is not None else None
        self.keep_classes = load_vocabulary(keep_classes).names if keep_classes is not None else None
        if self.keep_classes is not None and self.vocabulary is None:
            raise ValueError('keep_classes needs a vocabulary: the classes the labels index.')
        self.skip_corrupt = skip_corrupt
        self.num_skipped = 0
        if self.vocabulary is not None:
            metainfo = dict(kwargs.pop('metainfo', None) or {})
            metainfo.setdefault('classes', self.vocabulary.names)
            kwargs['metainfo'] = metainfo
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        if self.vocabulary is not None:
            bad = [
                d for d in data_list if not isinstance(d['label'], list) and not 0 <= d['label'] < len(self.vocabulary)
            ]
            if bad:
                raise ValueError(
                    f'{self.ann_file}: label {bad[0]["label"]} of {bad[0]["filename"]!r} is '
                    f'outside the {len(self.vocabulary)} classes of {self.vocabulary.source!r}.'
                )
        if self.keep_classes is not None:
            unknown = [n for n in self.keep_classes if n not in self.vocabulary.names]
            if unknown:
                raise ValueError(f'keep_classes {unknown[:5]} are not in {self.vocabulary.source!r}.')
            keep = {self.vocabulary.names.index(n) for n in self.keep_classes}
            data_list = [d for d in data_list if d['label'] in keep]
        if self.skip_corrupt and self.test_mode:
            data_list = self._drop_unreadable(data_list)
        return data_list

    def _drop_unreadable(self, data_list: List[dict]) -> List[dict]:
        """Test mode: mmengine does not refetch, so unreadable videos are found up front."""
        opener = VideoInit()
        readable, bad = [], []
        for info in data_list:
            probe = dict(filename=info['filename'])
            if opener.open(probe, opener.backends, []):
                readable.append(info)
            else:
                bad.append(info['filename'])
            probe.clear()
        if bad:
            self.num_skipped += len(bad)
            print_log(
                f'Skipped {len(bad)} of {len(data_list)} videos that no back-end '
                f'({", ".join(opener.backends)}) opens: {", ".join(bad[:10])}' + (' ...' if len(bad) > 10 else ''),
                logger='current',
                level=30,
            )
        return readable

    def prepare_data(self, idx: int):
        if not self.skip_corrupt:
            return super().prepare_data(idx)
        try:
            return super().prepare_data(idx)
        except VideoReadError as e:
            if self.test_mode:
                raise
            self.num_skipped += 1
            print_log(
                f'Skipped a corrupt video ({self.num_skipped} so far in this process; another clip '
                f'is drawn instead): {e}',
                logger='current',
                level=30,
            )
            return None  # mmengine's BaseDataset draws another clip
