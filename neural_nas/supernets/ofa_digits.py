"""``ofa_mbv3_digits``: a small Once-for-All MobileNetV3 that ships its trained weights and its data.

It runs the whole Dynamic NAS flow out of the box: no download, no data set path. The data are scikit-learn's bundled
``digits`` (1,797 grey 8x8 images); a fixed stratified 30 % of them (540) is held out, never trained on, and measures
top-1. Every image is distorted (pixel noise, then upsampled to 16x16 and randomly rotated, scaled and shifted; see
`distorted`): on the plain digits every sub-network scores nearly perfectly and nothing would be traded. Training
draws fresh distortions; measurement uses one fixed, seeded draw of ``TEST_DRAWS`` distortions of every held-out
digit, enough test images that the measured top-1 ranks the sub-networks the same from one draw to another (the
agreement between draws and the range from the smallest to the largest sub-network: benchmarks/RESULTS.md, 'The
embedded super-network's weights').

Architecture: ofa's ``OFAMobileNetV3`` machinery (its elastic ``DynamicMBConvLayer`` blocks, sub-network extraction and
forward pass) with a narrow, shallow stage plan for 16x16 inputs: a 3x3 stride-2 stem (16 channels), a fixed MBConv
block, then four elastic stages of up to three blocks (widths 16, 24, 32, 48; strides 2, 2, 1, 2; SE in stages 2 and
4), a 1x1 expansion to 128 channels, global pooling, a 160-wide feature mix and a 10-way classifier.

Genes, as in the OFA MobileNetV3 nets but for this smaller plan: ``ks`` x12 in [3, 5, 7] and ``e`` x12 in [3, 4, 6]
(one per elastic block), then ``d`` x4 in [1, 2, 3] (stage ``s`` runs its first ``d[s]`` blocks). MACs (at 16x16) and
params come from per-block lookup tables, exactly, as for the OFA nets.

Measuring a sub-network (`measure`): extract it, recalibrate its BatchNorm statistics on a fixed seeded subset of the
training split, then top-1 (%) on the distorted held-out digits; latency on a fixed random batch. The data tensors
and the super-network are prepared once per instance. ``scripts/train_ofa_digits.py`` trains the shipped weights.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from neural_nas.supernets._base import supernet_registry
from neural_nas.supernets.encoding import Encoding
from neural_nas.supernets.ofa_mbv3 import OFAMBConvSuperNetwork

if TYPE_CHECKING:
    import torch
    from torch import nn

    from neural_nas.measurements.racing import Race, Sampled

logger = logging.getLogger("neural_nas")

WEIGHTS_PATH = Path(__file__).parent / "weights" / "ofa_digits.pt"

IMAGE_SIZE = 16
N_STAGES = 4
KS_LIST, E_LIST, D_LIST = [3, 5, 7], [3, 4, 6], [1, 2, 3]
# Stem and first block, the four elastic stages, the head.
STEM_WIDTH = 16
STAGE_WIDTHS = (16, 24, 32, 48)
STAGE_STRIDES = (2, 2, 1, 2)
STAGE_ACTS = ("relu", "relu", "h_swish", "h_swish")
STAGE_SE = (False, True, False, True)
FINAL_EXPAND_WIDTH, LAST_WIDTH = 128, 160

TEST_FRACTION = 0.3  # held-out share of the digits, stratified, never trained on
SPLIT_SEED = 0
CALIBRATION_SIZE = 256
CALIBRATION_SEED = 0
TEST_SEED = 1
TEST_DRAWS = 4  # distortions of each held-out digit in the test set
# Distortions of every image (`distorted`): pixel noise std, max rotation (degrees), max relative scale change, max
# shift (fraction of the half-width).
NOISE_STD, MAX_ROTATION, MAX_SCALE, MAX_SHIFT = 0.15, 60.0, 0.35, 0.3
# Inputs: pixel / 16, then this mean and std (about those of the upsampled digits images).
PIXEL_MEAN, PIXEL_STD = 0.30, 0.38

DIGITS_ENCODING = Encoding(
    {
        "ks": {"count": N_STAGES * max(D_LIST), "vars": KS_LIST},
        "e": {"count": N_STAGES * max(D_LIST), "vars": E_LIST},
        "d": {"count": N_STAGES, "vars": D_LIST},
    }
)


@functools.cache
def _network_class() -> type:
    """``OFAMobileNetV3`` with the digits stage plan (defined on first use: importing this module needs no torch)."""
    from ofa.imagenet_classification.elastic_nn.modules.dynamic_layers import DynamicMBConvLayer
    from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
    from ofa.imagenet_classification.networks import MobileNetV3
    from ofa.utils.layers import ConvLayer, IdentityLayer, LinearLayer, MBConvLayer, ResidualBlock

    class OFADigitsMobileNetV3(OFAMobileNetV3):
        """Only the stage plan differs from ``OFAMobileNetV3``: its forward pass, ``set_active_subnet`` and
        ``get_active_subnet`` are inherited."""

        def __init__(self, n_classes: int = 10) -> None:
            self.width_mult = 1.0
            self.ks_list, self.expand_ratio_list, self.depth_list = list(KS_LIST), list(E_LIST), list(D_LIST)
            first_conv = ConvLayer(3, STEM_WIDTH, kernel_size=3, stride=2, act_func="h_swish")
            first_block = ResidualBlock(
                MBConvLayer(STEM_WIDTH, STEM_WIDTH, kernel_size=3, stride=1, expand_ratio=1, act_func="relu"),
                IdentityLayer(STEM_WIDTH, STEM_WIDTH),
            )
            blocks, self.block_group_info, width = [first_block], [], STEM_WIDTH
            for out_width, stride, act, se in zip(STAGE_WIDTHS, STAGE_STRIDES, STAGE_ACTS, STAGE_SE):
                self.block_group_info.append(list(range(len(blocks), len(blocks) + max(D_LIST))))
                for i in range(max(D_LIST)):
                    s = stride if i == 0 else 1
                    conv = DynamicMBConvLayer(
                        [width],
                        [out_width],
                        kernel_size_list=KS_LIST,
                        expand_ratio_list=E_LIST,
                        stride=s,
                        act_func=act,
                        use_se=se,
                    )
                    shortcut = IdentityLayer(width, width) if s == 1 and width == out_width else None
                    blocks.append(ResidualBlock(conv, shortcut))
                    width = out_width
            final_expand = ConvLayer(width, FINAL_EXPAND_WIDTH, kernel_size=1, act_func="h_swish")
            feature_mix = ConvLayer(
                FINAL_EXPAND_WIDTH, LAST_WIDTH, kernel_size=1, bias=False, use_bn=False, act_func="h_swish"
            )
            classifier = LinearLayer(LAST_WIDTH, n_classes, dropout_rate=0.0)
            MobileNetV3.__init__(self, first_conv, blocks, final_expand, feature_mix, classifier)
            self.set_bn_param(momentum=0.1, eps=1e-5)
            self.runtime_depth = [len(group) for group in self.block_group_info]

    return OFADigitsMobileNetV3


def build_digits_supernet() -> nn.Module:
    """A new, randomly initialised torch super-network (draws from the global torch RNG: seed or fork it)."""
    return _network_class()()


@functools.cache
def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: the 8x8 digits (float32 in [0, 1]) and labels, split once."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y.astype(np.int64), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return x_train, y_train, x_test, y_test


def distorted(images: np.ndarray | torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """8x8 images in [0, 1] (N, 8, 8) -> normalised network inputs (N, 3, 16, 16), distorted at random.

    Each image gets Gaussian pixel noise (at 8x8), is upsampled bilinearly to 16x16 and then rotated, scaled and
    shifted (background filled), all drawn from ``generator``: the task is the digits under these distortions, in
    training and in measurement alike (the plain digits are too easy to tell sub-networks apart).
    """
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(images, dtype=torch.float32)[:, None]
    n = len(x)

    def uniform(half_width: float) -> torch.Tensor:
        return (2 * torch.rand(n, generator=generator) - 1) * half_width

    x = x + NOISE_STD * torch.randn(x.shape, generator=generator)
    x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    angle, scale = uniform(MAX_ROTATION) * math.pi / 180, 1 + uniform(MAX_SCALE)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, uniform(MAX_SHIFT)], 1), torch.stack([sin, cos, uniform(MAX_SHIFT)], 1)], 1
    )
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    return ((x - PIXEL_MEAN) / PIXEL_STD).expand(-1, 3, -1, -1).contiguous()


@supernet_registry("ofa_mbv3_digits")
class OFADigitsSuperNetwork(OFAMBConvSuperNetwork):
    """The embedded super-network: weights in the package, data from scikit-learn, measured by `measure`."""

    name = "ofa_mbv3_digits"
    encoding = DIGITS_ENCODING
    image_size = IMAGE_SIZE
    weights_file = "ofa_digits.pt"
    weights_url: ClassVar[str | None] = None
    inner_evals: ClassVar[int] = 5000
    measures_itself: ClassVar[bool] = True
    eval_batch_size: ClassVar[int] = 128  # calibration batches: the BatchNorm statistics depend on it
    # Test batches: one draw of the held-out digits per forward pass. Fewer passes of a network this small save most of
    # their fixed cost; top-1 does not depend on the batch size.
    test_batch_size: ClassVar[int] = 540
    latency_batch_size: ClassVar[int] = 8
    latency_warmup: ClassVar[int] = 1
    latency_steps: ClassVar[int] = 5
    # Torch threads while measuring (restored after): these models are tiny, and one thread is faster and far steadier
    # than several on a busy machine. None: leave the setting alone.
    measure_threads: ClassVar[int | None] = 1
    # The seed of the test images' distortions, and how many of each held-out digit (other draws of the same digits:
    # benchmarks/measurement_noise.py).
    test_seed: int = TEST_SEED
    test_draws: int = TEST_DRAWS

    def __init__(self) -> None:
        super().__init__()
        self._device = "cpu"
        self._data: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def build(self) -> nn.Module:
        return build_digits_supernet()

    def input_contract(self) -> dict[str, Any]:
        return {
            "task": "handwritten digit classification (scikit-learn's 8x8 digits)",
            "inputs": f"float32 images (N, 3, {IMAGE_SIZE}, {IMAGE_SIZE})",
            "preprocessing": f"8x8 pixel values / 16, upsampled bilinearly to {IMAGE_SIZE}x{IMAGE_SIZE}, the same in "
            "all 3 channels, then (x - mean) / std; the search measured it on randomly rotated, scaled, shifted and "
            "noisy digits (ofa_digits.distorted)",
            "mean": PIXEL_MEAN,
            "std": PIXEL_STD,
            "outputs": "logits of the 10 digits (N, 10)",
        }

    def checkpoint_path(self, *, pretrained: bool, ckpt_path: str | None, download: bool) -> Path | None:
        """``ckpt_path`` when given, else the weights shipped in the package (never a download)."""
        if ckpt_path:
            from neural_nas.supernets._weights import resolve_checkpoint

            return resolve_checkpoint(self.weights_file, None, ckpt_path, allow_download=False)
        return WEIGHTS_PATH if pretrained else None

    def load(
        self, *, pretrained: bool = True, ckpt_path: str | None = None, device: str = "cpu", download: bool = False
    ) -> None:
        """As the OFA nets' `load`; the shipped weights are float16 (a small package) and load as float32."""
        if device != self._device:
            self._data = None  # prepared again on the new device
        self._device = device
        super().load(pretrained=pretrained, ckpt_path=ckpt_path, device=device, download=download)

    def active_subnet(self, subnet: Mapping[str, Any]) -> nn.Module:
        import torch

        # ofa builds the extracted layers with a random init before copying the weights in: keep the global RNG.
        with torch.random.fork_rng(devices=[]):
            return super().active_subnet(subnet)

    def data(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(calibration inputs, test inputs, test labels)`` on the device, prepared once."""
        if self._data is None:
            import torch

            x_train, _, x_test, y_test = digits_split()
            rng = np.random.default_rng(CALIBRATION_SEED)
            calib = np.sort(rng.choice(len(x_train), size=min(CALIBRATION_SIZE, len(x_train)), replace=False))
            # Distortions drawn once from fixed seeds (private generators): every sub-network sees the same pixels.
            calib_x = distorted(x_train[calib], torch.Generator().manual_seed(CALIBRATION_SEED))
            # Each held-out digit is measured under several distortions: more test images per digit make the
            # measured top-1 repeatable from one draw of distortions to the next (benchmarks/measurement_noise.py).
            test_x = distorted(np.tile(x_test, (self.test_draws, 1, 1)), torch.Generator().manual_seed(self.test_seed))
            y_test = np.tile(y_test, self.test_draws)
            # Channels-last: PyTorch's CPU depthwise convolutions are much faster in that layout.
            self._data = (
                calib_x.to(self._device, memory_format=torch.channels_last),
                test_x.to(self._device, memory_format=torch.channels_last),
                torch.as_tensor(y_test).to(self._device),
            )
        return self._data

    def standalone(self, subnet: Mapping[str, Any], ctx: Any) -> nn.Module:
        """The extracted sub-network with its BatchNorm recalibrated on the bundled calibration digits, on the CPU."""
        from neural_nas.measurements.accuracy import recalibrate_bn

        module = self.active_subnet(subnet)
        calib, _, _ = self.data()
        recalibrate_bn(module.to(calib.device), calib.split(self.eval_batch_size))
        return module.cpu().eval()

    def _recalibrated(self, module: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """Put ``module`` in the channels-last layout (in place, for the forward passes) and recalibrate its BatchNorm
        (eval mode after); returns the held-out test images and labels."""
        import torch

        from neural_nas.measurements.accuracy import recalibrate_bn

        module.to(memory_format=torch.channels_last)
        calib, x_test, y_test = self.data()
        recalibrate_bn(module, calib.split(self.eval_batch_size))
        return x_test, y_test

    def accuracy(self, module: nn.Module) -> float:
        """Top-1 (%) of a sub-network on the held-out digits, after BatchNorm recalibration."""
        from neural_nas.measurements.accuracy import top1_accuracy

        x_test, y_test = self._recalibrated(module)
        return top1_accuracy(module, zip(x_test.split(self.test_batch_size), y_test.split(self.test_batch_size)))

    raced_metric: ClassVar[str] = "accuracy_top1"  # `measure` races it when given a race

    def raced_accuracy(self, module: nn.Module) -> Sampled:
        """Top-1 of a sub-network as a raced metric over the test images (BatchNorm recalibrated here, once)."""
        import torch

        from neural_nas.measurements.accuracy import raced_top1, top1_outcomes

        x_test, y_test = self._recalibrated(module)

        def outcomes(indices: np.ndarray) -> np.ndarray:
            rows = torch.as_tensor(indices, device=x_test.device)
            x, y = x_test[rows].contiguous(memory_format=torch.channels_last), y_test[rows]
            return top1_outcomes(module, zip(x.split(self.test_batch_size), y.split(self.test_batch_size)))

        return raced_top1(outcomes, len(y_test))

    def measure(self, subnet: Mapping[str, Any], metrics: Sequence[str], race: Race | None = None) -> Any:
        """Exact MACs and params always; accuracy and latency on the extracted sub-network when asked for. With a
        ``race`` (`neural_nas.measurements.racing`) top-1 is raced: the result may be `Stopped`."""
        subnet = self.parse_record(subnet)
        vector = self.encoding.dict_to_vector(subnet)
        out = {name: float(values[0]) for name, values in self.exact_metrics(vector[None, :]).items()}
        if not {"accuracy_top1", "latency"} & set(metrics):
            return out
        if self._model is None:
            self.load(pretrained=True, ckpt_path=None, device=self._device)
        import torch

        threads = torch.get_num_threads()
        if self.measure_threads:
            torch.set_num_threads(self.measure_threads)
        try:
            return self._measure_model(subnet, metrics, out, race)
        finally:
            torch.set_num_threads(threads)

    def _measure_model(
        self, subnet: Mapping[str, Any], metrics: Sequence[str], out: dict[str, float], race: Race | None
    ) -> Any:
        module = self.active_subnet(subnet).to(self._device)
        if "latency" in metrics:
            from neural_nas.measurements.latency import measure_latency

            out["latency"], _ = measure_latency(
                module,
                batch_size=self.latency_batch_size,
                image_size=IMAGE_SIZE,
                device=self._device,
                warmup=self.latency_warmup,
                steps=self.latency_steps,
            )
        if "accuracy_top1" in metrics:
            if race is None:
                out["accuracy_top1"] = self.accuracy(module)
                return out
            result = race.run(self.raced_accuracy(module), out)
            if not isinstance(result, float):
                return result  # stopped
            out["accuracy_top1"] = result
        return out
