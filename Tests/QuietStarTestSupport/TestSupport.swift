import Foundation

/// What every test target shares: a deterministic generator, temporary directories and the path
/// of the repository's fixtures. One copy, so a fix or a new helper reaches every suite.

/// A tiny deterministic generator for test data (SplitMix64), so failures reproduce.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    public mutating func nextDouble() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [-scale, scale), 24 bits.
    public mutating func uniform(_ scale: Float = 1) -> Float {
        (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale
    }

    /// `n` values of `uniform(scale)`.
    public mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in uniform(scale) } }
}

/// A fresh temporary directory, removed (with its contents) when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init() {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("quietstar-test-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Names in the directory, sorted (to check that failed writes leave nothing behind).
    public var contents: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

/// The repository and its `fixtures/` folder, found from this source file's path.
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The files of folder `relative` (from the repository root), sorted by name, without
    /// subfolders and README files: a fuzz corpus or a fixture folder to replay.
    public static func files(in relative: String) -> [URL] {
        let folder = root.appendingPathComponent(relative)
        return ((try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? [])
            .filter { !$0.hasDirectoryPath && $0.pathExtension != "md" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Every file of `tools/fuzz/corpus/<target>/` through a fuzz target's checks (`exercise`
    /// traps on a broken promise and returns what the input got past, summed here): the
    /// replay half of fuzzing, run by the ordinary suite. Returns the file count and the sum.
    public static func replayCorpus(_ target: String, _ exercise: (UnsafeRawBufferPointer) -> Int) throws -> (files: Int, sum: Int) {
        let files = self.files(in: "tools/fuzz/corpus/\(target)")
        var sum = 0
        for file in files { sum += try Data(contentsOf: file).withUnsafeBytes { exercise($0) } }
        return (files.count, sum)
    }

    /// `fixtures/<relative>`.
    public static func fixture(_ relative: String) -> String {
        root.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    /// `fixtures/<relative>`, a JSON document, decoded.
    public static func fixtureJSON<T: Decodable>(_ type: T.Type, _ relative: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: fixture(relative))))
    }

    /// `fixtures/<relative>`, a file of little-endian float32 values (the references' binaries).
    public static func fixtureFloats(_ relative: String) throws -> [Float] {
        let raw = try Data(contentsOf: URL(fileURLWithPath: fixture(relative)))
        return raw.withUnsafeBytes { bytes in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}
