import Testing
@testable import QuietStarGGUF

/// The known classes of GGUF reader bugs (huge counts, strings past the end, dimension overflow,
/// tensors outside the file, misalignment, duplicates, zero dimensions, unknown types) each end in
/// an error naming the field and the byte offset, never a trap, a hang or a huge allocation.
@Suite struct HostileFileTests {
    @Test func theBaseFileIsValid() throws {
        let layout = try parse(GGUFBuilder.valid())
        #expect(layout.tensors.map(\.name) == ["a", "b"])
        #expect(layout.tensor("a")?.shape == [2, 4] && layout.tensor("a")?.byteCount == 32)
        #expect(layout.tensor("b")?.offset == layout.dataOffset + 32)
        #expect(layout["general.architecture"]?.stringValue == "llama")
    }

    /// One hostile file and the field and offset its error must name.
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let field: String
        let offset: UInt64?
        var kind: GGUFError.Kind = .invalid
        var description: String { name }
    }

    static func header(tensors: UInt64, kv: UInt64, version: UInt32 = 3) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.header(version: version, tensors: tensors, kv: kv)
        return b
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        var b = header(tensors: 0, kv: 1 << 60)
        cases.append(Case(name: "huge n_kv", bytes: b.bytes + [UInt8](repeating: 0, count: 64), field: "n_kv", offset: 16))
        b = header(tensors: UInt64.max, kv: 0)
        cases.append(Case(name: "huge n_tensors", bytes: b.bytes, field: "n_tensors", offset: 8))
        b = header(tensors: 0, kv: 1)
        b.u64(1 << 40); b.bytes += Array("key".utf8) + [UInt8](repeating: 0, count: 64)
        cases.append(Case(name: "key length past EOF", bytes: b.bytes, field: "kv[0].key.length", offset: 24))
        b = header(tensors: 0, kv: 1)
        b.string("k"); b.u32(GGUFValueType.string.rawValue); let at = b.offset; b.u64(1000); b.bytes += [0x41]
        cases.append(Case(name: "string value past EOF", bytes: b.bytes, field: "kv[0:k].length", offset: at))
        b = header(tensors: 0, kv: 1)
        b.string("k"); b.u32(GGUFValueType.array.rawValue); b.u32(GGUFValueType.uint64.rawValue)
        let countAt = b.offset; b.u64(1 << 62)
        cases.append(Case(name: "array of 2^62 elements", bytes: b.bytes + [UInt8](repeating: 0, count: 64),
                          field: "kv[0:k].count", offset: countAt))
        b = header(tensors: 0, kv: 2)
        b.string("k"); b.u32(GGUFValueType.uint8.rawValue); b.bytes.append(1)
        let dupAt = b.offset; b.string("k"); b.u32(GGUFValueType.uint8.rawValue); b.bytes.append(1)
        cases.append(Case(name: "duplicate key", bytes: b.bytes, field: "kv[1:k]", offset: dupAt))
        b = header(tensors: 0, kv: 1)
        b.string("k"); let typeAt = b.offset; b.u32(99); b.bytes.append(1)
        cases.append(Case(name: "unknown value type", bytes: b.bytes, field: "kv[0:k].type", offset: typeAt))
        b = header(tensors: 0, kv: 1)
        b.string("k"); b.u32(GGUFValueType.bool.rawValue); let boolAt = b.offset; b.bytes.append(2)
        cases.append(Case(name: "bool byte 2", bytes: b.bytes, field: "kv[0:k]", offset: boolAt))
        b = header(tensors: 0, kv: 1)
        b.string("general.alignment"); b.u32(GGUFValueType.uint32.rawValue); b.u32(48)
        cases.append(Case(name: "alignment not a power of two", bytes: b.bytes, field: "general.alignment", offset: nil))

        func oneTensor(dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64 = 0, data: Int = 64) -> (GGUFBuilder, UInt64) {
            var b = header(tensors: 1, kv: 0)
            let entry = b.offset
            b.tensor("t", dims: dims, type: type, offset: offset)
            b.pad(to: 32)
            b.bytes += [UInt8](repeating: 0, count: data)
            return (b, entry)
        }
        // Entry layout: name length 8 + "t" 1, n_dims 4, dims 8 each, type 4, offset 8.
        var (t, e) = oneTensor(dims: [4, 0])
        cases.append(Case(name: "zero dimension", bytes: t.bytes, field: "tensors[0:t].dims[1]", offset: e + 9 + 4 + 8))
        (t, e) = oneTensor(dims: [1 << 32, 1 << 32])
        cases.append(Case(name: "dims product overflows", bytes: t.bytes, field: "tensors[0:t].dims[1]", offset: e + 9 + 4 + 8))
        (t, e) = oneTensor(dims: [1 << 31, 1 << 31, 4])
        cases.append(Case(name: "dims product past int64", bytes: t.bytes, field: "tensors[0:t].dims[2]", offset: e + 9 + 4 + 16))
        (t, e) = oneTensor(dims: [4, 4, 4, 4, 4])
        cases.append(Case(name: "five dimensions", bytes: t.bytes, field: "tensors[0:t].n_dims", offset: e + 9))
        (t, e) = oneTensor(dims: [8], type: 99)
        cases.append(Case(name: "unknown tensor type", bytes: t.bytes, field: "tensors[0:t].type", offset: e + 9 + 4 + 8, kind: .unsupported))
        (t, e) = oneTensor(dims: [8], type: GGMLType.q8_0.rawValue)
        cases.append(Case(name: "row not a whole block", bytes: t.bytes, field: "tensors[0:t].dims[0]", offset: e + 9 + 4))
        (t, e) = oneTensor(dims: [8], offset: 16)
        cases.append(Case(name: "misaligned offset", bytes: t.bytes, field: "tensors[0:t].offset", offset: e + 9 + 4 + 8 + 4))
        (t, e) = oneTensor(dims: [64], data: 64)
        cases.append(Case(name: "data past the end (truncated)", bytes: t.bytes, field: "tensors[0:t].offset", offset: e))
        (t, e) = oneTensor(dims: [8], offset: UInt64.max - 31)
        cases.append(Case(name: "offset overflows", bytes: t.bytes, field: "tensors[0:t].offset", offset: e))

        b = header(tensors: 2, kv: 0)
        b.tensor("t", dims: [8], offset: 0)
        let second = b.offset
        b.tensor("t", dims: [8], offset: 32)
        b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: 64)
        cases.append(Case(name: "duplicate tensor name", bytes: b.bytes, field: "tensors[1:t]", offset: second))
        b = header(tensors: 2, kv: 0)
        b.tensor("a", dims: [16], offset: 0)
        let overlapping = b.offset
        b.tensor("b", dims: [8], offset: 32)
        b.pad(to: 32); b.bytes += [UInt8](repeating: 0, count: 128)
        cases.append(Case(name: "overlapping tensors", bytes: b.bytes, field: "tensors[1:b].offset", offset: overlapping))

        b = header(tensors: 1, kv: 0)
        b.u64(UInt64.max); b.bytes += [UInt8](repeating: 0, count: 64)
        cases.append(Case(name: "tensor name length past EOF", bytes: b.bytes, field: "tensors[0].name.length", offset: 24))
        b = header(tensors: 0, kv: 1)
        b.string("tokens"); b.u32(GGUFValueType.array.rawValue); b.u32(GGUFValueType.string.rawValue); b.u64(2)
        b.string("a"); let secondAt = b.offset; b.u64(1 << 50)
        cases.append(Case(name: "array element string past EOF", bytes: b.bytes, field: "kv[0:tokens][1].length", offset: secondAt))
        b = header(tensors: 0, kv: 1)
        b.string("k"); b.u32(GGUFValueType.array.rawValue); b.u32(GGUFValueType.array.rawValue); b.u64(1)
        let innerAt = b.offset; b.u32(GGUFValueType.array.rawValue); b.u64(0)
        cases.append(Case(name: "arrays nested three deep", bytes: b.bytes + [UInt8](repeating: 0, count: 32),
                          field: "kv[0:k][0].element_type", offset: innerAt))
        b = header(tensors: 0, kv: 1)
        b.u64(2); b.bytes += [0xC3, 0x28]; b.u32(GGUFValueType.uint8.rawValue); b.bytes.append(0)
        cases.append(Case(name: "key not UTF-8", bytes: b.bytes, field: "kv[0].key", offset: 24))
        b = header(tensors: 0, kv: 1)
        b.string("k"); b.u32(GGUFValueType.array.rawValue); let elementAt = b.offset; b.u32(77); b.u64(0)
        cases.append(Case(name: "unknown array element type", bytes: b.bytes, field: "kv[0:k].element_type", offset: elementAt))

        var bad = GGUFBuilder.valid()
        bad[0] = UInt8(ascii: "X")
        cases.append(Case(name: "bad magic", bytes: bad, field: "magic", offset: 0, kind: .notGGUF))
        b = header(tensors: 0, kv: 0, version: 1)
        cases.append(Case(name: "version 1", bytes: b.bytes, field: "version", offset: 4, kind: .unsupportedVersion))
        b = header(tensors: 0, kv: 0, version: UInt32(3).byteSwapped)
        cases.append(Case(name: "big-endian", bytes: b.bytes, field: "version", offset: 4, kind: .unsupportedVersion))
        return cases
    }()

    @Test(arguments: cases)
    func isRejectedNamingFieldAndOffset(c: Case) throws {
        let error = try #require(parseError(c.bytes), "\(c.name) was accepted")
        #expect(error.kind == c.kind, "\(error)")
        #expect(error.field == c.field, "\(error)")
        #expect(error.offset == c.offset, "\(error)")
    }

    @Test func versionTwoIsRead() throws {
        var v2 = GGUFBuilder.valid()
        v2[4] = 2
        #expect(try parse(v2).version == 2)
    }

    /// Every single-byte corruption of the header and tables of a valid file either parses or
    /// fails with an error: never a trap, a hang or a huge allocation (the fuzz target's job in
    /// miniature, run on every test run).
    @Test func everyByteFlipEndsCleanly() throws {
        let valid = GGUFBuilder.valid()
        for at in 0..<valid.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var bytes = valid
                bytes[at] ^= mask
                if let layout = try? parse(bytes) {
                    for t in layout.tensors { #expect(t.offset + t.byteCount <= UInt64(bytes.count)) }
                }
            }
        }
    }

    /// Every truncation of a valid file is refused cleanly (never a trap).
    @Test func everyTruncationIsRefused() throws {
        let valid = GGUFBuilder.valid()
        for n in 0..<valid.count {
            #expect(parseError(Array(valid[0..<n])) != nil, "a \(n)-byte prefix was accepted")
        }
    }
}
