"""Fair cross-framework benchmarks: one subprocess per cell with the same thread budget in
every framework and ONNX Runtime; medians, spreads, latency percentiles, peak memory,
achieved GFLOP/s and its fraction of the machine's matmul peak."""
