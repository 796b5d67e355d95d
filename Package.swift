// swift-tools-version: 6.1
import PackageDescription
import Foundation

/// Hot kernels need FMA and F16C; the default x86-64 target has neither and turns
/// `SIMD.addingProduct` and `Float16` conversion into library calls (see docs/ARCHITECTURE.md).
#if arch(x86_64)
let fastMath: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let fastMath: [SwiftSetting] = []
#endif

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

var targets: [Target] = [
    // System libraries: a module map and a one-line header each.
    .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),

    // Strict JSON reading (keys compared by bytes) and deterministic writing.
    .target(name: "QuietStarJSON", swiftSettings: fastMath),
    // The .qstar container: knows nothing about transformers.
    .target(name: "QuietStarFormat", dependencies: ["CZstd"], swiftSettings: fastMath),
    // The numeric floor: forward (and backward) kernels on unsafe buffers.
    .target(name: "QuietStarKernels", dependencies: ["CBLAS", "QuietStarFormat"], swiftSettings: fastMath),
    // Byte and Hugging Face BPE tokenizers.
    .target(name: "QuietStarTokenizer", dependencies: ["QuietStarFormat", "QuietStarJSON"], swiftSettings: fastMath),
    // The transformer, KV cache, mixing head, thought-augmented scoring and generation.
    .target(name: "QuietStarModel",
            dependencies: ["QuietStarFormat", "QuietStarKernels", "QuietStarTokenizer"],
            swiftSettings: fastMath),
    // What every command-line tool shares: exit statuses, stderr logging and progress, escaping.
    .target(name: "QuietStarCLI", swiftSettings: fastMath),
    // safetensors, Hugging Face config mapping, the published Quiet-STaR layout.
    .target(name: "QuietStarInterop",
            dependencies: ["QuietStarFormat", "QuietStarTokenizer", "QuietStarJSON"],
            swiftSettings: fastMath),
]

/// Targets are added as their sources arrive; a target folder without Swift files is skipped so
/// that work in progress never breaks the manifest.
func hasSwiftSources(_ path: String) -> Bool {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(path)
    guard let e = FileManager.default.enumerator(atPath: root.path) else { return false }
    while let f = e.nextObject() as? String { if f.hasSuffix(".swift") { return true } }
    return false
}

let executables: [(String, [Target.Dependency])] = [
    ("quietstar-inspect", ["QuietStarFormat", "QuietStarCLI", argumentParser]),
    ("quietstar-convert", ["QuietStarFormat", "QuietStarInterop", "QuietStarTokenizer", "QuietStarCLI", argumentParser]),
    ("quietstar-run", ["QuietStarFormat", "QuietStarModel", "QuietStarTokenizer", "QuietStarCLI", argumentParser]),
    ("quietstar-bench", ["QuietStarFormat", "QuietStarKernels", "QuietStarModel", "CBLAS", argumentParser]),
]
for (name, deps) in executables where hasSwiftSources("Sources/\(name)") {
    targets.append(.executableTarget(name: name, dependencies: deps, swiftSettings: fastMath))
}

let testTargets: [(String, [Target.Dependency])] = [
    ("QuietStarJSONTests", ["QuietStarJSON"]),
    ("QuietStarFormatTests", ["QuietStarFormat"]),
    ("QuietStarKernelsTests", ["QuietStarKernels", "CBLAS"]),
    ("QuietStarTokenizerTests", ["QuietStarTokenizer", "QuietStarFormat"]),
    ("QuietStarInteropTests", ["QuietStarInterop", "QuietStarFormat", "QuietStarTokenizer"]),
    ("QuietStarModelTests", ["QuietStarModel", "QuietStarFormat", "QuietStarKernels", "QuietStarTokenizer", "QuietStarInterop"]),
    ("CLITests", ["QuietStarFormat", "QuietStarCLI"]),
]
/// CLI tests run the real executables, so they depend on every executable that exists.
let builtExecutables: [Target.Dependency] = executables
    .filter { hasSwiftSources("Sources/\($0.0)") }.map { .target(name: $0.0) }
for (name, deps) in testTargets where hasSwiftSources("Tests/\(name)") {
    let all = name == "CLITests" ? deps + builtExecutables : deps
    targets.append(.testTarget(name: name, dependencies: all, swiftSettings: fastMath))
}

let package = Package(
    name: "QuietStar",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "QuietStarFormat", targets: ["QuietStarFormat"]),
        .library(name: "QuietStarModel", targets: ["QuietStarModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: targets
)
