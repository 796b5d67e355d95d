@testable import QuietStarGGUF

/// Writes GGUF bytes field by field, so a test can build a valid file and then break exactly one
/// field (and know its offset).
struct GGUFBuilder {
    var bytes: [UInt8] = []
    var offset: UInt64 { UInt64(bytes.count) }

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += s.utf8 }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }

    /// A header: magic, version, counts.
    mutating func header(version: UInt32 = 3, tensors: UInt64, kv: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version)
        u64(tensors)
        u64(kv)
    }

    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }

    /// A valid two-tensor F32 file with one string key: the base every hostile case changes.
    static func valid() -> [UInt8] {
        var b = GGUFBuilder()
        b.header(tensors: 2, kv: 1)
        b.string("general.architecture"); b.u32(GGUFValueType.string.rawValue); b.string("llama")
        b.tensor("a", dims: [4, 2], offset: 0)
        b.tensor("b", dims: [8], offset: 32)
        b.pad(to: 32)
        b.bytes += [UInt8](repeating: 0, count: 64)
        return b.bytes
    }
}

func parse(_ bytes: [UInt8]) throws(GGUFError) -> GGUFLayout {
    // `withUnsafeBytes` rethrows untyped errors, so the typed error travels out in a Result.
    let result = bytes.withUnsafeBytes { raw in Result { () throws(GGUFError) in try GGUFLayout.parse(raw) } }
    return try result.get()
}

func parseError(_ bytes: [UInt8]) -> GGUFError? {
    do { _ = try parse(bytes); return nil } catch { return error }
}
