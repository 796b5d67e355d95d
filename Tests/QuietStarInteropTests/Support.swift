import Foundation
import QuietStarFormat
@testable import QuietStarInterop

/// Paths and helpers shared by the interop tests.
enum Fixtures {
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    /// The Hugging Face model folders committed by the reference generator.
    static let hfModels = ["llama-tied", "llama-untied", "llama3", "llama-sharded", "llama-bf16",
                           "mistral", "qwen2", "quietstar-mistral"]

    static func hf(_ name: String) -> String { path("hf/\(name)") }
}

/// The f32 values of a safetensors tensor (F32, F16, BF16 or F64), decoded independently of
/// the code under test: straight from the bytes with Float16 / bit shifts.
func referenceValues(_ file: SafetensorsFile, _ name: String) -> [Float] {
    let info = file.info(name)!
    let bytes = file.data(info)
    let n = Int(info.elementCount)
    switch info.dtype {
    case .f32: return (0..<n).map { Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
    case .bf16: return (0..<n).map { Float(bitPattern: UInt32(bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
    case .f16: return (0..<n).map { Float(Float16(bitPattern: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
    case .f64: return (0..<n).map { Float(bytes.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
    default: fatalError("not a float tensor")
    }
}

/// Bytes of a little-endian safetensors file built by hand.
func safetensorsBytes(header: String, data: [UInt8] = []) -> [UInt8] {
    let h = Array(header.utf8)
    let n = UInt64(h.count)
    return (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) } + h + data
}

extension InteropError {
    var isInvalidInput: Bool { kind == .invalidInput }
}
