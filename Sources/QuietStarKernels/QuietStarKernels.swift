/// The numeric floor: matrix products (OpenBLAS), normalisation, rotary embeddings, softmax,
/// activations and attention, each with an explicit forward and backward on unsafe buffers.
///
/// Conventions shared by every kernel:
/// - Activations are row-major f32, `rows x cols` contiguous unless a stride is given.
/// - Weights follow PyTorch's `nn.Linear`: `[out, in]` row-major, `y = x · Wᵀ (+ b)`, viewed
///   zero-copy from a checkpoint as a `WeightMatrix` in f32, f16, bf16 or Q8_0.
/// - Hot paths take raw pointers and sizes and never allocate per call; kernels that need working
///   memory take a `Scratch` (slots below `Scratch.reservedSlots`).
/// - Backward functions sit next to their forward. Parameter gradients are accumulated (`+=`,
///   llm.c style: the caller zeroes them once per step); activation gradients are written unless
///   the function has an `accumulate...` flag.
/// - Parallel work goes through `Threads` (our pool) or OpenBLAS (its own), never both at once.
///   Our kernels compute every output element in one worker, in an order fixed by the shapes
///   alone, so their results do not depend on the thread count.
///
/// Checked against PyTorch / transformers reference outputs (`tools/reference/kernels_reference.py`
/// -> `fixtures/kernels/`) and against central differences for every backward.
public enum QuietStarKernels {}
