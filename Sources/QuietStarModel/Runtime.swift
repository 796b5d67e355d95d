import QuietStarKernels

/// Process-wide runtime settings the tools expose (the kernels' worker count).
public enum Runtime {
    /// Sets how many threads the kernels and OpenBLAS use together (at least 1); the two never
    /// run at the same time, so this is also the number of busy cores.
    public static func configureThreads(_ count: Int) { Threads.configure(count: count) }
    public static var threadCount: Int { Threads.count }
}
