"""The ONNX graph of a model, exported from its torch weights once and cached by content.

    python -m classifier.inference.export [--arch tf_efficientnet_lite0] [--weights FILE] [--out FILE]

Without `--out` the graph goes where workers look for it (MODEL_CACHE_DIR), unless it is there already.

Nothing is committed or downloaded: the graph is built here from the weights the project already has, at build
time (`make venv`, the worker image's bake) or at a worker's first start. The export runs in its own process so
the worker that asked for it never holds torch; a file lock lets only one of several workers starting at once do
it, and the file appears whole (written aside, then renamed). The exporter checks its graph against torch before
it keeps it (the parity test on the course images is in the test suite).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from classifier.inference import DEFAULT_MODEL_CACHE_DIR
from classifier.inference.catalog import EFFICIENTNET_LITE0, ModelSpec, resolve

INPUT_NAME = "pixels"
OUTPUT_NAME = "logits"
OPSET = 17
# Part of the cached file's name: a new torch, or a change to how we export, makes a new file.
EXPORT_REVISION = 1
# The most an exported graph's logits may differ from torch's on the check pixels (probabilities agree far closer).
LOGIT_TOLERANCE = 1e-3
EXPORT_TIMEOUT_SECONDS = 300
ROOT = Path(__file__).resolve().parents[2]


class ExportFailed(RuntimeError):
    """The ONNX graph could not be made (or did not match torch): the worker cannot use that backend."""


def exported_path(spec: ModelSpec, cache_dir: Path) -> Path:
    return cache_dir / f"{spec.name}-{spec.digest[:16]}-torch{version('torch')}-r{EXPORT_REVISION}.onnx"


def ensure_exported(spec: ModelSpec, cache_dir: Path) -> Path:
    """The cached graph for `spec`, exported first (in a child process) when it is not there yet."""
    path = exported_path(spec, cache_dir)
    if path.exists():
        return path
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be exporting the same graph: wait for it
            if not path.exists():
                _export_in_child(spec, path)
    except OSError as exc:  # a read-only install without the graph, a full disk
        raise ExportFailed(f"cannot write the ONNX graph under {cache_dir} ({exc}); set MODEL_CACHE_DIR") from exc
    return path


def _export_in_child(spec: ModelSpec, path: Path) -> None:
    argv = [sys.executable, "-m", "classifier.inference.export", "--arch", spec.arch, "--weights", str(spec.weights),
            "--out", str(path)]  # fmt: skip
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise ExportFailed(f"exporting {spec.name} to ONNX took over {EXPORT_TIMEOUT_SECONDS} s") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExportFailed(f"exporting {spec.name} to ONNX failed: {last}")


def export(spec: ModelSpec, out: Path) -> float:
    """Write the graph to `out` and return the largest logit difference from torch on the check pixels."""
    import warnings

    import numpy as np
    import onnxruntime
    import torch

    from classifier.inference.torch_backend import build_module

    model = build_module(spec).eval()
    sample = torch.zeros(1, 3, spec.preprocessing.crop, spec.preprocessing.crop)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        draft = Path(scratch) / out.name
        with warnings.catch_warnings():
            # torch 2.14's default exporter needs onnxscript; the TorchScript one (deprecated, kept in the pinned
            # torch) gives the same graph for this model with what is installed.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model, (sample,), str(draft), dynamo=False, opset_version=OPSET,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            )  # fmt: skip
        # Normalised pixels lie around [-2, 2]: fixed random ones exercise every path of the graph, on any host.
        pixels = np.random.default_rng(0).standard_normal((4, *sample.shape[1:]), dtype=np.float32)
        with torch.inference_mode():
            expected = model(torch.from_numpy(pixels)).numpy()
        session = onnxruntime.InferenceSession(str(draft), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {INPUT_NAME: pixels})
        worst = float(np.abs(np.asarray(got) - expected).max())
        if worst > LOGIT_TOLERANCE:
            raise ExportFailed(f"the exported graph differs from torch by {worst:.2g} in a logit")
        draft.replace(out)
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export a classifier's weights to a checked ONNX graph.")
    parser.add_argument("--arch", default=EFFICIENTNET_LITE0)
    parser.add_argument("--weights", type=Path, help="state-dict file (default: the one shipped for --arch)")
    parser.add_argument("--out", type=Path, help="the file to write (default: the cached graph's path)")
    args = parser.parse_args(argv)
    try:
        spec = resolve(args.arch, args.weights)
        out = args.out or exported_path(spec, Path(os.environ.get("MODEL_CACHE_DIR") or DEFAULT_MODEL_CACHE_DIR))
        if args.out is None and out.exists():
            sys.stdout.write(f"{spec.name} ({spec.version}) is exported already: {out}\n")
            return 0
        worst = export(spec, out)
    except (ValueError, OSError, ExportFailed) as exc:
        sys.stderr.write(f"export: {exc}\n")
        return 1
    sys.stdout.write(f"exported {spec.name} ({spec.version}) to {out}; largest logit difference {worst:.1e}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
