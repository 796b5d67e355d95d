import CKernels
import Foundation
import Synchronization

/// The persistent workers behind `Threads.parallelRanges`: `size - 1` threads plus the caller.
///
/// Why not `DispatchQueue.concurrentPerform` alone: batch-1 decode makes ~45 parallel calls per
/// token, each a few microseconds of work, and waking Dispatch's workers through the kernel for
/// every one cost a quarter of decode time (`perf`: `finish_task_switch`, futex wake-ups). Here
/// a worker that finished a job spins briefly (`spinLimit` polls, tens of microseconds) for the
/// next one, which in a decode step comes almost at once, and only then parks on a condition
/// variable: no thread spins while the process is idle.
///
/// Which chunk runs where never changes a result (every kernel writes disjoint outputs with a
/// fixed arithmetic per element), so the pool is free to hand out chunks dynamically.
///
/// One job at a time: a caller that finds the pool busy (another thread's kernel, or a kernel
/// called from inside a job) gets `false` from `run` and uses Dispatch instead. The pool has
/// one thread per core (`Threads.pool`); a process configured for another count uses Dispatch.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    /// Polls of `generation` before a worker parks.
    static let spinLimit = 20_000

    private let busy = Mutex<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let nextChunk = Atomic<Int>(0)
    private let unfinished = Atomic<Int>(0)
    /// The current job's closure (the address of the caller's copy), 0 between jobs.
    private let body = Atomic<Int>(0)
    /// Workers between reading `body` and dropping their copy of the closure: `run` returns
    /// only when this is 0, so no worker ever reads a finished job's closure.
    private let active = Atomic<Int>(0)
    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var sleepers = 0
    /// The current job's chunk count; written before `body` is published.
    nonisolated(unsafe) private var chunks = 0

    init(size: Int) {
        self.size = size
        for i in 1..<max(1, size) {
            let thread = Thread { [unowned self] in self.workerLoop() }
            thread.name = "quietstar-worker-\(i)"
            thread.start()
        }
    }

    /// Runs `body(c)` for every `c` in `0..<chunks` on the caller and the workers; returns when
    /// all are done. False (and nothing run) when the pool is already running a job.
    func run(chunks n: Int, _ work: (Int) -> Void) -> Bool {
        guard busy.withLock({ b -> Bool in if b { return false }; b = true; return true }) else { return false }
        defer { busy.withLock { $0 = false } }
        withoutActuallyEscaping(work) { work in
            withUnsafePointer(to: work) { pointer in
                chunks = n
                nextChunk.store(0, ordering: .sequentiallyConsistent)
                unfinished.store(n, ordering: .sequentiallyConsistent)
                body.store(Int(bitPattern: UInt(bitPattern: pointer)), ordering: .sequentiallyConsistent)
                generation.add(1, ordering: .sequentiallyConsistent)
                condition.lock()
                if sleepers > 0 { condition.broadcast() }
                condition.unlock()
                let done = claimChunks(pointer)
                unfinished.subtract(done, ordering: .sequentiallyConsistent)
                while unfinished.load(ordering: .sequentiallyConsistent) != 0 { qs_cpu_relax() }
                body.store(0, ordering: .sequentiallyConsistent)
                while active.load(ordering: .sequentiallyConsistent) != 0 { qs_cpu_relax() }
            }
        }
        return true
    }

    /// Takes chunks until none are left; the number it ran. The closure copy lives only inside
    /// this call.
    private func claimChunks(_ pointer: UnsafePointer<(Int) -> Void>) -> Int {
        let f = pointer.pointee
        var done = 0
        while true {
            let c = nextChunk.add(1, ordering: .sequentiallyConsistent).oldValue
            if c >= chunks { break }
            f(c)
            done += 1
        }
        return done
    }

    private func workerLoop() {
        var seen = generation.load(ordering: .sequentiallyConsistent)
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen && spins < Self.spinLimit {
                qs_cpu_relax()
                spins += 1
            }
            if generation.load(ordering: .sequentiallyConsistent) == seen {
                condition.lock()
                sleepers += 1
                while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                sleepers -= 1
                condition.unlock()
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            active.add(1, ordering: .sequentiallyConsistent)
            let bits = body.load(ordering: .sequentiallyConsistent)
            if bits != 0, let pointer = UnsafePointer<(Int) -> Void>(bitPattern: bits) {
                let done = claimChunks(pointer)
                if done > 0 { unfinished.subtract(done, ordering: .sequentiallyConsistent) }
            }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
