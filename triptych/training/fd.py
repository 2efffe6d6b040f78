"""FD-digits (FD-MNIST on MNIST-5k): the Fréchet distance between real and generated digits
in the penultimate-layer features of a small classifier trained with triptych on the same
data (not Inception: not "FID").

FD = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½), Gaussians fitted to the features (the
classifier's backbone output, the input of its final Dense). Also the mean max-class
confidence of the classifier on generated samples. The classifier is trained once (zoo
``classifier``, its supervised recipe, all 1797 digits or all 5,000 MNIST-5k images in
[0, 1]) and cached as safetensors (`shared_classifier_cache` for named data sets).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triptych.common import data as D
from triptych.frameworks.base import available
from triptych.model import Model, create
from triptych.model import load as load_model

CLASSIFIER_FILE = "fd_classifier.safetensors"
CACHE_ENV = "TRIPTYCH_CACHE"
#: the fewest generated samples FD uses; by default it uses as many as there are real images
#: (the features are 1,568-d at 28×28: with 1,000 samples FD between 1,000 real MNIST-5k
#: images and all 5,000 is 51, with 2,500 it is 12; measured in benchmarks/mnist.md)
N_GENERATED = 1000


@dataclass(frozen=True)
class FDScore:
    fd: float
    confidence: float

    def to_dict(self) -> dict[str, float]:
        return {"fd_digits": self.fd, "mean_max_confidence": self.confidence}


def load_or_train_classifier(
    cache: str | os.PathLike,
    framework: str | None = None,
    real: D.Dataset | None = None,
    steps: int | None = None,
) -> Model:
    """The cached feature classifier at ``cache``, trained first if it is not there (or if
    the cached one takes another image shape): the zoo ``classifier`` at the shape of
    ``real`` (labelled images in [0, 1]; default the bundled digits), its recipe's steps
    unless ``steps`` is given."""
    real = real if real is not None else D.load_digits("unit")
    if real.y is None:
        raise ValueError(f"{real.name}: FD needs a labelled data set to train its classifier")
    path = Path(cache)
    fw = framework or available()[0]
    if path.exists():
        model = load_model(path, framework=fw)
        if model.spec.input_shape == real.image_shape:
            return model
    model = create(
        "classifier", framework=fw, seed=0, image_shape=real.image_shape,
        num_classes=int(real.y.max()) + 1,
    )  # fmt: skip
    model.fit(real, steps=steps, progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def shared_classifier_cache(data: str, steps: int | None) -> Path:
    """Where the FD classifier of a data set (a named one, digits, digits28, mnist, or a
    file's `data_key`) trained for ``steps`` is cached across runs: ``$TRIPTYCH_CACHE``
    (default ``~/.cache/triptych``) ``/fd/<data>-<steps>.safetensors``, so FD-MNIST trains
    its classifier once."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "triptych")
    return root / "fd" / f"{data}-{steps or 'default'}.safetensors"


def data_key(source: str, real: D.Dataset) -> str:
    """The cache name of the FD classifier for ``source``: a named data set's own name, else
    the file's name and a digest of its images and labels (a file whose data changed gets a
    classifier of its own)."""
    if source in D.NAMED:
        return source
    digest = hashlib.sha256(np.ascontiguousarray(real.x).tobytes())
    if real.y is not None:
        digest.update(np.ascontiguousarray(real.y).tobytes())
    return f"{Path(source).name}-{digest.hexdigest()[:16]}"


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(m)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def from_samples(na: int, nb: int, dims: int) -> bool:
    """Whether `frechet_distance` takes the sample route: an SVD of the ``na`` x ``nb``
    cross-product costs less than the ``dims``-sized eigendecompositions (few samples of
    wide features, e.g. 96 real 28x28 images against 1,568-d features)."""
    return na * nb * min(na, nb) < dims**3


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``.

    Tr((Σa Σb)^½) is computed as Σ √λ(Σa^½ Σb Σa^½), symmetric and PSD, so it stays stable
    when ReLU features make the covariances singular. With few samples of wide features
    (`from_samples`) it is the sum of the singular values of Xa Xbᵀ / √((na-1)(nb-1)) instead
    (X: the centred samples; the nonzero eigenvalues of Σa Σb are the squared singular values
    of that matrix), the same number to rounding at a fraction of the cost.
    """
    (na, dims), nb = a.shape, b.shape[0]
    if from_samples(na, nb, dims):
        xa, xb = a.astype(np.float64), b.astype(np.float64)
        mu_a, mu_b = xa.mean(axis=0), xb.mean(axis=0)
        xa, xb = xa - mu_a, xb - mu_b
        singular = np.linalg.svd(xa @ xb.T, compute_uv=False)
        trace_root = singular.sum() / np.sqrt((na - 1) * (nb - 1))
        trace_a, trace_b = (xa**2).sum() / (na - 1), (xb**2).sum() / (nb - 1)
        value = ((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2.0 * trace_root
        return float(max(value, 0.0))
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a = np.cov(a.astype(np.float64), rowvar=False)
    cov_b = np.cov(b.astype(np.float64), rowvar=False)
    root_a = _sqrtm_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(value, 0.0))


def features(classifier: Model, images01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features, class probabilities) for images in [0, 1]."""
    feats = classifier.predict(images01, network="backbone")
    logits = classifier.predict(feats, network="head")
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return feats, probs


def fd_digits(
    generator: Model,
    classifier: Model,
    n: int | None = None,
    seed: int = 7,
    real: D.Dataset | None = None,
) -> FDScore:
    """FD and confidence of ``n`` of ``generator``'s samples (tanh output, [-1, 1]) against
    ``real`` images in [0, 1] (default the bundled digits: FD-digits; MNIST-5k: FD-MNIST).
    ``n`` defaults to the number of real images, at least `N_GENERATED`: the estimator's
    upward bias falls with n (Gaussians fitted to 1,568-d features at 28×28)."""
    real_x = (real if real is not None else D.load_digits("unit")).x
    n = n if n is not None else max(N_GENERATED, len(real_x))
    latent = generator.spec.networks["generator"].input_shape
    z = D.noise_stream(seed, "fd/z").standard_normal((n, *latent)).astype(np.float32)
    fake01 = (generator.predict(z, network="generator", batch_size=250) + 1.0) / 2.0
    real_feats, _ = features(classifier, real_x)
    fake_feats, probs = features(classifier, np.clip(fake01, 0.0, 1.0).astype(np.float32))
    return FDScore(frechet_distance(real_feats, fake_feats), float(probs.max(axis=1).mean()))
