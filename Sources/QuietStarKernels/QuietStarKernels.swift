/// The numeric floor: matrix products (OpenBLAS), normalisation, rotary embeddings, softmax,
/// activations and attention, each with an explicit forward and backward on unsafe buffers.
public enum QuietStarKernels {}
