import CBLAS
import Dispatch
import Foundation
import Synchronization

/// The kernels' worker pool: one count shared by our own loops and OpenBLAS.
///
/// Our loops run on `WorkerPool` (persistent threads that spin briefly between jobs, then park),
/// or on `DispatchQueue.concurrentPerform` when the pool is busy or sized for another count;
/// OpenBLAS keeps its own pthreads. Each kernel
/// uses one or the other, never both at once: calling `cblas_sgemm` from inside `parallelFor`
/// would run `count * count` threads on `count` cores.
public enum Threads {
    private static let workers = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)
    private static let blasConfigured = Atomic<Bool>(false)

    /// Sets the number of workers for our loops and for OpenBLAS (at least 1).
    public static func configure(count: Int) {
        let n = max(1, count)
        workers.store(n, ordering: .relaxed)
        openblas_set_num_threads(Int32(n))
        blasConfigured.store(true, ordering: .relaxed)
    }

    /// Persistent workers for the default count, one per core (see `WorkerPool`).
    static let pool = WorkerPool(size: ProcessInfo.processInfo.activeProcessorCount)

    /// The number of workers (default: the active processor count).
    public static var count: Int { workers.load(ordering: .relaxed) }

    /// Makes OpenBLAS use `count` threads unless `configure` already said so: OpenBLAS reads
    /// `OPENBLAS_NUM_THREADS` itself, and a kernel that assumes one thread count must not inherit
    /// another from the environment by accident.
    @inline(__always)
    static func ensureBLASConfigured() {
        if !blasConfigured.load(ordering: .relaxed) { configure(count: count) }
    }

    /// Runs `body(i)` for every `i` in `0..<n`, spread over the workers in contiguous chunks.
    ///
    /// `body` runs concurrently for different `i`: it must only write memory that no other index
    /// touches (the OpenMP `parallel for` contract). Runs serially when `n < 2` or `count == 1`.
    public static func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        parallelRanges(n) { range in
            for i in range { body(i) }
        }
    }

    /// Splits `0..<n` into contiguous ranges of at least `minChunk` items and runs `body` on each,
    /// concurrently. Ranges are a few per worker so that uneven rows (causal attention) balance.
    /// The same disjoint-writes contract as `parallelFor` applies.
    public static func parallelRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let workers = count
        let maxChunks = (n + max(1, minChunk) - 1) / max(1, minChunk)
        let chunks = min(maxChunks, workers == 1 ? 1 : workers * 4)
        if chunks <= 1 {
            body(0..<n)
            return
        }
        // Chunk `c`'s range: fixed by (n, chunks) alone, whichever thread runs it.
        let chunk = { (c: Int) in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
        if workers == pool.size, pool.run(chunks: chunks, chunk) { return }
        // `concurrentPerform` wants a `@Sendable` closure; the disjoint-writes contract above is
        // what makes sharing `chunk` (and the raw pointers it captures) safe.
        withoutActuallyEscaping(chunk) { chunk in
            let box = UncheckedSendable(chunk)
            DispatchQueue.concurrentPerform(iterations: chunks) { box.value($0) }
        }
    }
}

/// Carries a value across a concurrency boundary whose safety the caller argues for in a comment.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
