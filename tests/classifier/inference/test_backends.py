"""The ONNX Runtime and TorchScript backends against the eager torch reference, and how the ONNX graph is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier.inference import catalog, export
from classifier.inference.model import ImageClassifier, choose_backend, softmax
from tests.conftest import IMAGES_DIR

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache of its own: the export is part of what is tested (about 10 s)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx(cache_dir: Path) -> ImageClassifier:
    return ImageClassifier(catalog.EFFICIENTNET_LITE0, backend="onnx", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def reference() -> ImageClassifier:
    return ImageClassifier(catalog.EFFICIENTNET_LITE0, backend="torch")


def test_onnx_agrees_with_torch_on_the_course_images(onnx: ImageClassifier, reference: ImageClassifier) -> None:
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))
    assert len(paths) == 100
    arrays = [reference.preprocess(path.read_bytes()) for path in paths]
    for start in range(0, len(arrays), 10):
        batch = np.stack(arrays[start : start + 10])
        expected = softmax(reference._forward(batch))
        got = softmax(onnx._forward(batch))
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    first = onnx.classify(paths[0].read_bytes())
    assert first.model_name == reference.classify(paths[0].read_bytes()).model_name == "efficientnet_lite0"
    assert first.model_version.startswith("efficientnet-lite0-57934424.pth#sha256:")
    assert first.model_version.endswith(" onnxruntime-" + __import__("onnxruntime").__version__)


def test_the_graph_is_exported_once_and_reused(onnx: ImageClassifier, cache_dir: Path) -> None:
    spec = catalog.resolve(catalog.EFFICIENTNET_LITE0)
    path = export.exported_path(spec, cache_dir)
    assert path.exists()
    assert [p.name for p in cache_dir.glob("*.onnx")] == [path.name]  # written aside, then renamed: no draft left
    before = path.stat().st_mtime_ns
    assert export.ensure_exported(spec, cache_dir) == path
    assert path.stat().st_mtime_ns == before


def test_a_worker_on_onnx_never_imports_torch(onnx: ImageClassifier, cache_dir: Path) -> None:
    """What keeps a worker small: torch's import alone is hundreds of MiB."""
    probe = "\n".join(
        [
            "import sys, pathlib",
            "from classifier.inference.model import ImageClassifier",
            f"c = ImageClassifier('tf_efficientnet_lite0', backend='onnx', cache_dir=pathlib.Path({str(cache_dir)!r}))",
            f"print(c.classify(pathlib.Path({str(IMAGES_DIR / 'test_2.JPEG')!r}).read_bytes()).best.label)",
            "print(sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))",
        ]
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["monarch butterfly", "[]"]


def test_a_failed_export_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = catalog.resolve(catalog.EFFICIENTNET_LITE0)
    # A state dict that is not the model's: the exporting process fails, and says why in its last line.
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    broken_spec = catalog.ModelSpec(spec.arch, spec.name, spec.preprocessing, broken)
    with pytest.raises(export.ExportFailed, match="exporting efficientnet_lite0 to ONNX failed"):
        export.ensure_exported(broken_spec, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.onnx"))


def test_backends_are_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_backend("torch") == "torch"
    assert choose_backend("onnx") == "onnx"
    assert choose_backend("torchscript") == "torchscript"
    assert choose_backend("auto") == "onnx"  # onnxruntime is in requirements.txt
    monkeypatch.setattr("classifier.inference.model.onnxruntime_installed", lambda: False)
    assert choose_backend("auto") == "torch"
    with pytest.raises(ValueError, match="unknown classifier backend 'tensorflow'"):
        choose_backend("tensorflow")


def test_torchscript_agrees_with_eager_torch(reference: ImageClassifier) -> None:
    scripted = ImageClassifier(catalog.EFFICIENTNET_LITE0, backend="torchscript")
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))[:20]
    batch = np.stack([reference.preprocess(path.read_bytes()) for path in paths])
    expected, got = softmax(reference._forward(batch)), softmax(scripted._forward(batch))
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert scripted.classify(paths[0].read_bytes()).model_version.endswith(" torchscript-" + torch_version())


def torch_version() -> str:
    import torch

    return torch.__version__


def test_auto_falls_back_to_torch_when_the_graph_cannot_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def cannot_export(spec: catalog.ModelSpec, cache_dir: Path) -> Path:
        raise export.ExportFailed("exporting efficientnet_lite0 to ONNX failed: no space left on device")

    monkeypatch.setattr("classifier.inference.model.ensure_exported", cannot_export)
    fallback = ImageClassifier(catalog.EFFICIENTNET_LITE0, backend="auto", cache_dir=tmp_path)
    assert fallback.backend == "torch"
    assert " torch-" in fallback.classify((IMAGES_DIR / "test_2.JPEG").read_bytes()).model_version
    assert "running the torch reference instead" in caplog.text
    with pytest.raises(export.ExportFailed, match="no space left"):  # asked for by name: no quiet substitute
        ImageClassifier(catalog.EFFICIENTNET_LITE0, backend="onnx", cache_dir=tmp_path)


def test_onnx_by_name_without_onnxruntime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("classifier.inference.model.onnxruntime_installed", lambda: False)
    with pytest.raises(ValueError, match="needs the onnxruntime package"):
        choose_backend("onnx")


def test_a_cache_that_cannot_be_written_is_an_export_failure(tmp_path: Path) -> None:
    """So that `auto` can fall back to torch instead of the worker dying on an OSError."""
    not_a_folder = tmp_path / "models"
    not_a_folder.write_text("a file where the cache folder should be")  # mkdir fails as it would on a read-only disk
    with pytest.raises(export.ExportFailed, match="set MODEL_CACHE_DIR"):
        export.ensure_exported(catalog.resolve(catalog.EFFICIENTNET_LITE0), not_a_folder / "cache")
