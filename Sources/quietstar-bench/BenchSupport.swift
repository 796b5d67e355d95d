import ArgumentParser
import CBLAS
import CKernels
import Foundation
import QuietStarKernels

// Shared machinery for every `quietstar-bench` subcommand: options, timing, JSON-lines output and
// the machine baselines (sgemm peak, memory bandwidth) that other results are measured against.

/// Options every benchmark subcommand accepts (`@OptionGroup var options: BenchOptions`).
struct BenchOptions: ParsableArguments {
    @Option(help: "Worker threads for our kernels and OpenBLAS (default: all cores).")
    var threads: Int?

    @Option(help: "Minimum seconds of timed repeats per measurement (after warm-up).")
    var minTime: Double = 0.5

    @Flag(help: "Small sizes and short timings: a smoke test, not a measurement.")
    var quick = false

    /// Applies `--threads` and returns the effective minimum time.
    func apply() -> Double {
        if let threads { Threads.configure(count: threads) } else { Threads.configure(count: Threads.count) }
        return quick ? min(minTime, 0.05) : minTime
    }
}

// MARK: - output

/// A JSON value for a result line.
enum BenchValue {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)

    var json: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v):
            guard v.isFinite else { return "null" }
            // Four significant digits: more would be noise in a timing.
            return String(format: "%.4g", v)
        case .string(let s): return BenchOutput.quote(s)
        case .bool(let b): return b ? "true" : "false"
        }
    }
}

extension BenchValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByBooleanLiteral {
    init(integerLiteral value: Int) { self = .int(value) }
    init(floatLiteral value: Double) { self = .double(value) }
    init(stringLiteral value: String) { self = .string(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// Results go to stdout as one JSON object per line (keys in the order given); human notes go to
/// stderr, so `quietstar-bench ... | jq` always sees clean data.
enum BenchOutput {
    static func emit(_ fields: [(String, BenchValue)]) {
        let body = fields.map { "\(quote($0.0)):\($0.1.json)" }.joined(separator: ",")
        FileHandle.standardOutput.write(Data(("{" + body + "}\n").utf8))
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

// MARK: - timing

/// Timings of repeated runs of one operation.
struct Timing {
    /// Seconds per run, sorted ascending.
    let samples: [Double]
    var best: Double { samples[0] }
    var median: Double { samples[samples.count / 2] }
    var repeats: Int { samples.count }

    /// The standard fields of a result line: median and best seconds and the repeat count.
    var fields: [(String, BenchValue)] {
        [("seconds_median", .double(median)), ("seconds_best", .double(best)), ("repeats", .int(repeats))]
    }
}

enum Bench {
    /// Monotonic seconds (CLOCK_MONOTONIC through `ContinuousClock`).
    static func now() -> ContinuousClock.Instant { ContinuousClock.now }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// Runs `body` `warmup` times untimed (page faults, caches, OpenBLAS thread start), then times
    /// single runs until `minTime` seconds have passed and at least `minRepeats` runs were made
    /// (at most `maxRepeats`).
    static func measure(warmup: Int = 2, minTime: Double, minRepeats: Int = 5, maxRepeats: Int = 10_000,
                        _ body: () -> Void) -> Timing {
        for _ in 0..<warmup { body() }
        var samples: [Double] = []
        let start = now()
        while samples.count < maxRepeats && (samples.count < minRepeats || seconds(since: start) < minTime) {
            let t0 = now()
            body()
            samples.append(seconds(since: t0))
        }
        return Timing(samples: samples.sorted())
    }

    /// Times alternatives round-robin (one run of each per round) so that a load change on a
    /// shared machine hits all of them alike; use it whenever the point is which one is faster.
    static func measureInterleaved(warmup: Int = 2, minTime: Double, minRounds: Int = 5, maxRounds: Int = 10_000,
                                   _ bodies: [() -> Void]) -> [Timing] {
        for body in bodies { for _ in 0..<warmup { body() } }
        var samples = [[Double]](repeating: [], count: bodies.count)
        let start = now()
        var rounds = 0
        while rounds < maxRounds && (rounds < minRounds || seconds(since: start) < minTime * Double(bodies.count)) {
            for (i, body) in bodies.enumerated() {
                let t0 = now()
                body()
                samples[i].append(seconds(since: t0))
            }
            rounds += 1
        }
        return samples.map { Timing(samples: $0.sorted()) }
    }
}

// MARK: - buffers

/// A 64-byte aligned heap buffer for benchmarks (freed on deinit), filled deterministically.
final class BenchBuffer<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<T>.stride, alignment: 64)
        pointer = raw.bindMemory(to: T.self, capacity: max(1, count))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

extension BenchBuffer where T == Float {
    /// Uniform values in [-scale, scale) from a fixed-seed generator (xorshift), with every page
    /// touched so timings never include first-touch faults.
    convenience init(random count: Int, scale: Float = 1, seed: UInt64 = 1) {
        self.init(count: count)
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<count {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            pointer[i] = (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    convenience init(zeros count: Int) {
        self.init(count: count)
        pointer.initialize(repeating: 0, count: count)
    }
}

// MARK: - machine

enum Machine {
    /// A `machine` line: CPU, cores, threads in use, memory, OpenBLAS build. Emitted first by every
    /// subcommand so a results file says where it came from.
    static func emitInfo(subcommand: String) {
        var fields: [(String, BenchValue)] = [("bench", "machine"), ("subcommand", .string(subcommand))]
        fields.append(("cpu", .string(cpuModel())))
        fields.append(("cores", .int(ProcessInfo.processInfo.activeProcessorCount)))
        fields.append(("threads", .int(Threads.count)))
        fields.append(("memory_gib", .double(Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30))))
        fields.append(("openblas", .string(openBLASConfig())))
        fields.append(("cpu_flags", .string(cpuFlags())))
        fields.append(("isa", .string(KernelISA.current.rawValue)))
        #if DEBUG
        fields.append(("build", "debug"))
        #else
        fields.append(("build", "release"))
        #endif
        BenchOutput.emit(fields)
    }

    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }

    /// The SIMD features the kernels care about.
    static func cpuFlags() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return "" }
        let flags = Set(line.split(separator: " ").map(String.init))
        return ["avx2", "fma", "f16c", "avx512f", "avx512_bf16"].filter { flags.contains($0) }.joined(separator: " ")
    }

    static func openBLASConfig() -> String {
        guard let c = openblas_get_config() else { return "unknown" }
        return String(cString: c).trimmingCharacters(in: .whitespaces)
    }
}

// MARK: - baselines

/// Machine baselines measured in the same run as the results they normalise: a fraction of peak
/// is only meaningful against the peak of the same machine, threads and moment.
enum Baseline {
    /// GFLOP/s of one `cblas_sgemm` of `m x k` by `k x n` (best of the repeats) with `threads`
    /// OpenBLAS threads; restores the previous thread setting.
    static func measureSgemm(m: Int, n: Int, k: Int, threads: Int, minTime: Double) -> (gflops: Double, timing: Timing) {
        let previous = Threads.count
        Threads.configure(count: threads)
        defer { Threads.configure(count: previous) }
        let a = BenchBuffer<Float>(random: m * k, seed: 1), b = BenchBuffer<Float>(random: n * k, seed: 2)
        let c = BenchBuffer<Float>(zeros: m * n)
        // C = A · Bᵀ, the shape Linear uses (weights [out, in]).
        let timing = Bench.measure(minTime: minTime) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                        1, a.pointer, Int32(k), b.pointer, Int32(k), 0, c.pointer, Int32(n))
        }
        return (2 * Double(m) * Double(n) * Double(k) / timing.best / 1e9, timing)
    }

    /// The sgemm peak Linear results are compared with: 1024³ on all threads.
    static func measureSgemmPeak(minTime: Double) -> Double {
        measureSgemm(m: 1024, n: 1024, k: 1024, threads: Threads.count, minTime: minTime).gflops
    }

    /// The machine's FMA peak in GFLOP/s for one instruction-set path (`qs_fma_probe_*`: 12
    /// independent register FMA chains per thread, one probe per worker): the ceiling a matrix
    /// product on that path can approach, independent of any BLAS build.
    static func measureFMAPeak(avx512: Bool, threads: Int, minTime: Double) -> Double {
        let iterations: Int64 = 2_000_000
        let lanes = avx512 ? 16.0 : 8.0
        let sink = BenchBuffer<Float>(zeros: 64 * max(1, threads))
        let timing = Bench.measure(warmup: 1, minTime: minTime, minRepeats: 3) {
            Threads.parallelFor(threads) { c in
                sink.pointer[64 * c] = avx512 ? qs_fma_probe_avx512(iterations) : qs_fma_probe_avx2(iterations)
            }
        }
        return Double(threads) * Double(iterations) * 12 * lanes * 2 / timing.best / 1e9
    }

    /// Copy bandwidth in GB/s, STREAM convention (bytes read + bytes written per second), of
    /// `memcpy` over `bytes`-sized buffers (far larger than the caches), split over `threads`.
    static func measureCopyBandwidth(bytes: Int = 256 << 20, threads: Int? = nil, minTime: Double) -> Double {
        let n = bytes / 4
        let src = BenchBuffer<Float>(random: n, seed: 3), dst = BenchBuffer<Float>(zeros: n)
        let workers = threads ?? Threads.count
        let timing = Bench.measure(warmup: 1, minTime: minTime, minRepeats: 3) {
            parallelChunks(workers, n) { _, r in
                memcpy(dst.pointer + r.lowerBound, src.pointer + r.lowerBound, r.count * 4)
            }
        }
        return 2 * Double(bytes) / timing.best / 1e9
    }

    /// Read bandwidth in GB/s: a SIMD sum over `bytes` (the access pattern of a weight-streaming
    /// matrix-vector product), split over `threads`. This is the bound for `Linear` at m = 1.
    static func measureReadBandwidth(bytes: Int = 256 << 20, threads: Int? = nil, minTime: Double) -> Double {
        let n = bytes / 4
        let src = BenchBuffer<Float>(random: n, seed: 4)
        let workers = threads ?? Threads.count
        let sink = BenchBuffer<Float>(zeros: 64 * max(1, workers))
        let timing = Bench.measure(warmup: 1, minTime: minTime, minRepeats: 3) {
            parallelChunks(workers, n) { c, r in
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                let p = UnsafeRawPointer(src.pointer + r.lowerBound)
                var i = 0
                let count = r.count & ~31
                while i < count {
                    a0 += p.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                    a1 += p.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
                    a2 += p.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD8<Float>.self)
                    a3 += p.loadUnaligned(fromByteOffset: 4 * i + 96, as: SIMD8<Float>.self)
                    i += 32
                }
                // Keep the sum observable so the loads are not optimised away.
                sink.pointer[64 * c] = ((a0 + a1) + (a2 + a3)).sum()
            }
        }
        return Double(bytes) / timing.best / 1e9
    }

    /// `workers` contiguous chunks of `0..<n`, one per worker, on our thread pool.
    private static func parallelChunks(_ workers: Int, _ n: Int, _ body: (Int, Range<Int>) -> Void) {
        Threads.parallelFor(workers) { c in body(c, (n * c / workers)..<(n * (c + 1) / workers)) }
    }
}

// MARK: - the `sgemm` subcommand

struct SgemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sgemm",
        abstract: "The machine's baselines: cblas_sgemm GFLOP/s (1024³ and m = 64) and memory bandwidth.")

    @OptionGroup var options: BenchOptions

    func run() {
        let minTime = options.apply()
        Machine.emitInfo(subcommand: "sgemm")
        let all = Threads.count
        let big = options.quick ? 256 : 1024
        let (layerIn, layerOut) = options.quick ? (512, 512) : (4096, 4096)
        for threads in Set([1, all]).sorted() {
            for (m, n, k) in [(big, big, big), (64, layerOut, layerIn), (1, layerOut, layerIn)] {
                let r = Baseline.measureSgemm(m: m, n: n, k: k, threads: threads, minTime: minTime)
                BenchOutput.emit([("bench", "sgemm"), ("m", .int(m)), ("n", .int(n)), ("k", .int(k)),
                                  ("threads", .int(threads)), ("gflops", .double(r.gflops))] + r.timing.fields)
            }
        }
        for threads in Set([1, all]).sorted() {
            for (name, wide) in [("avx2", false), ("avx512", true)] where !wide || KernelISA.avx512.isSupported {
                BenchOutput.emit([("bench", "fma_peak"), ("isa", .string(name)), ("threads", .int(threads)),
                                  ("gflops", .double(Baseline.measureFMAPeak(avx512: wide, threads: threads, minTime: minTime)))])
            }
        }
        let bytes = options.quick ? 16 << 20 : 256 << 20
        for threads in Set([1, all]).sorted() {
            let copy = Baseline.measureCopyBandwidth(bytes: bytes, threads: threads, minTime: minTime)
            BenchOutput.emit([("bench", "memory"), ("kind", "copy"), ("bytes", .int(bytes)), ("threads", .int(threads)),
                              ("gb_per_s", .double(copy))])
            let read = Baseline.measureReadBandwidth(bytes: bytes, threads: threads, minTime: minTime)
            BenchOutput.emit([("bench", "memory"), ("kind", "read"), ("bytes", .int(bytes)), ("threads", .int(threads)),
                              ("gb_per_s", .double(read))])
        }
    }
}
