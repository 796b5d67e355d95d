import CKernels
import Foundation

/// Which instruction set the hot kernels run on. One binary carries every path and picks the
/// best this CPU has when the process starts; `QUIETSTAR_ISA` overrides the choice (to compare
/// paths, or to rule a misbehaving one out). Every path computes the same bits: what differs is
/// how many accumulators one instruction advances, never the order an element's sum is taken in
/// (see `LinearTiles`), so forcing a path changes speed only.
public enum KernelISA: String, Sendable, CaseIterable {
    /// The Swift SIMD kernels: AVX2 + FMA + F16C on x86-64 (the package's build target), NEON
    /// on arm64. Runs everywhere the package runs.
    case baseline
    /// AVX-512 bodies from the `CKernels` C target for the matrix products: the tiled product
    /// (`qs_linear_pass_avx512`) and batch-1 rows (`qs_linear_rows_avx512`); everything else
    /// stays on the baseline kernels.
    case avx512

    /// The path this process uses: `QUIETSTAR_ISA` when set (`avx2` or `baseline`, `avx512`,
    /// `auto`), else the best the CPU runs. Read once.
    public static let current: KernelISA = resolve(environment: ProcessInfo.processInfo.environment["QUIETSTAR_ISA"],
                                                   warn: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })

    /// Whether this CPU (and OS) can run the path.
    public var isSupported: Bool {
        switch self {
        case .baseline: true
        case .avx512: Self.cpuHasAVX512
        }
    }

    static let cpuHasAVX512 = qs_cpu_has_avx512() != 0

    /// The best supported path.
    public static var best: KernelISA { cpuHasAVX512 ? .avx512 : .baseline }

    /// The path for a `QUIETSTAR_ISA` value. An unknown value or a path this CPU cannot run is
    /// not fatal (the variable may be set machine-wide for a fleet of different CPUs): it gets
    /// a one-line warning and the best supported path.
    static func resolve(environment value: String?, warn: (String) -> Void) -> KernelISA {
        guard let value, !value.isEmpty, value != "auto" else { return best }
        let requested: KernelISA? = switch value.lowercased() {
        case "avx2", "baseline", "neon": .baseline
        case "avx512", "avx-512": .avx512
        default: nil
        }
        guard let requested else {
            warn("quietstar: QUIETSTAR_ISA=\(value) is not one of auto, avx2 (baseline), avx512; using \(best.rawValue)")
            return best
        }
        guard requested.isSupported else {
            warn("quietstar: QUIETSTAR_ISA=\(value) asks for a path this CPU does not run; using \(best.rawValue)")
            return best
        }
        return requested
    }
}
