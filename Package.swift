// swift-tools-version: 6.1
import PackageDescription

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
    // AVX-512 bodies of hot kernels, chosen at run time (per-function target attributes: one
    // binary for every x86-64 CPU); their Swift twins define the arithmetic.
    .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2", "-ffp-contract=off"])]),
    .target(name: "QuietStarKernels", dependencies: ["CBLAS", "CKernels"], swiftSettings: fastMath),
    // The checkpoint conventions (spec section 12): llama.* config, tensor names and shapes,
    // quietstar.* keys, training-state names. Above the container, below everything that reads a model.
    .target(name: "QuietStarCheckpoint", dependencies: ["QuietStarFormat"], swiftSettings: fastMath),
    // Byte and Hugging Face BPE tokenizers.
    .target(name: "QuietStarTokenizer", dependencies: ["QuietStarFormat", "QuietStarJSON"], swiftSettings: fastMath),
    // The transformer, KV cache, mixing head, thought-augmented scoring and generation.
    .target(name: "QuietStarModel",
            dependencies: ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarKernels", "QuietStarTokenizer"],
            swiftSettings: fastMath),
    // Lines in, results out: continuous batching of input lines over the model, plain and with thoughts.
    .target(name: "QuietStarEngine",
            dependencies: ["QuietStarModel", "QuietStarCheckpoint", "QuietStarKernels", "QuietStarTokenizer"],
            swiftSettings: fastMath),
    // The trainer: parameters as f32 blocks, losses with their backward passes, AdamW/SGD, data
    // loading, training checkpoints and exact resumption.
    .target(name: "QuietStarTraining",
            dependencies: ["QuietStarModel", "QuietStarCheckpoint", "QuietStarKernels", "QuietStarFormat", "QuietStarTokenizer",
                           "QuietStarJSON"],
            swiftSettings: fastMath),
    // The STaR loop (generate, keep the correct, rationalize, fine-tune from the base) and the
    // n-digit addition task with its scratchpad.
    .target(name: "QuietStarSTaR",
            dependencies: ["QuietStarTraining", "QuietStarModel", "QuietStarFormat", "QuietStarJSON"],
            swiftSettings: fastMath),
    // What every command-line tool shares: exit statuses, stderr logging and progress, escaping.
    .target(name: "QuietStarCLI", swiftSettings: fastMath),
    // safetensors, Hugging Face config mapping, the published Quiet-STaR layout.
    // GGUF (llama.cpp's format): a validating reader and ggml's dequantizers. The container
    // only, like QuietStarFormat: what the names mean is Interop's job.
    .target(name: "QuietStarGGUF", dependencies: ["QuietStarFormat"], swiftSettings: fastMath),
    .target(name: "QuietStarInterop",
            dependencies: ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarTokenizer", "QuietStarJSON", "QuietStarGGUF"],
            swiftSettings: fastMath),
]

let executables: [(name: String, dependencies: [Target.Dependency])] = [
    ("quietstar-inspect", ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarJSON", "QuietStarCLI", argumentParser]),
    ("quietstar-convert", ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarInterop", "QuietStarTokenizer", "QuietStarJSON",
                           "QuietStarCLI", argumentParser]),
    ("quietstar-run", ["QuietStarFormat", "QuietStarKernels", "QuietStarModel", "QuietStarEngine", "QuietStarTokenizer", "QuietStarJSON", "QuietStarCLI",
                       argumentParser]),
    ("quietstar-train", ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarKernels", "QuietStarTokenizer", "QuietStarTraining",
                         "QuietStarSTaR", "QuietStarJSON",
                         "QuietStarCLI", argumentParser]),
    ("quietstar-bench", ["QuietStarFormat", "QuietStarCheckpoint", "QuietStarKernels", "QuietStarModel", "QuietStarEngine",
                         "QuietStarTraining", "CBLAS", "CKernels",
                         argumentParser]),
]
targets += executables.map { .executableTarget(name: $0.name, dependencies: $0.dependencies, swiftSettings: fastMath) }

let testTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("QuietStarJSONTests", ["QuietStarJSON"]),
    ("QuietStarFormatTests", ["QuietStarFormat", "CZstd"]),
    ("QuietStarCheckpointTests", ["QuietStarCheckpoint", "QuietStarFormat"]),
    ("QuietStarKernelsTests", ["QuietStarKernels", "QuietStarFormat", "CBLAS"]),
    ("QuietStarTokenizerTests", ["QuietStarTokenizer", "QuietStarFormat"]),
    ("QuietStarGGUFTests", ["QuietStarGGUF"]),
    ("QuietStarInteropTests", ["QuietStarInterop", "QuietStarCheckpoint", "QuietStarFormat", "QuietStarTokenizer", "QuietStarJSON",
                               "QuietStarGGUF"]),
    ("QuietStarModelTests", ["QuietStarModel", "QuietStarCheckpoint", "QuietStarFormat", "QuietStarKernels", "QuietStarTokenizer",
                             "QuietStarInterop", "QuietStarModelTestSupport"]),
    ("QuietStarEngineTests", ["QuietStarEngine", "QuietStarModel", "QuietStarCheckpoint", "QuietStarFormat", "QuietStarKernels",
                              "QuietStarTokenizer", "QuietStarModelTestSupport"]),
    ("QuietStarTrainingTests", ["QuietStarTraining", "QuietStarModel", "QuietStarCheckpoint", "QuietStarFormat", "QuietStarKernels",
                                "QuietStarTokenizer", "QuietStarModelTestSupport"]),
    ("QuietStarSTaRTests", ["QuietStarSTaR", "QuietStarTraining", "QuietStarJSON"]),
    // CLI tests run the real executables, so they depend on every one of them.
    ("CLITests", ["QuietStarFormat", "QuietStarCLI"] + executables.map { .target(name: $0.name) }),
]
// Helpers every test target shares (a deterministic generator, temporary directories, fixture paths).
targets.append(.target(name: "QuietStarTestSupport", path: "Tests/QuietStarTestSupport", swiftSettings: fastMath))
// Model-level test helpers: small configurations, random checkpoints, a float64 forward, the
// converted reference fixtures (for the model, engine and training tests).
targets.append(.target(name: "QuietStarModelTestSupport",
                       dependencies: ["QuietStarModel", "QuietStarCheckpoint", "QuietStarFormat", "QuietStarInterop",
                                      "QuietStarTestSupport"],
                       path: "Tests/QuietStarModelTestSupport", swiftSettings: fastMath))
targets += testTargets.map {
    .testTarget(name: $0.name, dependencies: $0.dependencies + ["QuietStarTestSupport"], swiftSettings: fastMath)
}

let package = Package(
    name: "QuietStar",
    platforms: [.macOS(.v15)],
    products: [
        // Everything the tools do is available to Swift callers through these libraries.
        .library(name: "QuietStarFormat", targets: ["QuietStarFormat"]),
        .library(name: "QuietStarCheckpoint", targets: ["QuietStarCheckpoint"]),
        .library(name: "QuietStarKernels", targets: ["QuietStarKernels"]),
        .library(name: "QuietStarTokenizer", targets: ["QuietStarTokenizer"]),
        .library(name: "QuietStarModel", targets: ["QuietStarModel"]),
        .library(name: "QuietStarEngine", targets: ["QuietStarEngine"]),
        .library(name: "QuietStarTraining", targets: ["QuietStarTraining"]),
        .library(name: "QuietStarSTaR", targets: ["QuietStarSTaR"]),
        .library(name: "QuietStarInterop", targets: ["QuietStarInterop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: targets
)
