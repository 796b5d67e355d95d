import Foundation
import QuietStarTestSupport
import Testing
@testable import QuietStarFormat

/// Writer -> reader round trips: every dtype x encoding, streaming appends, large zstd frames,
/// every metadata type, metadata replacement, and writer misuse.
@Suite struct RoundTripTests {
    /// Deterministic logical bytes for `dtype` with `count` elements (valid for the dtype).
    static func sampleBytes(_ dtype: DType, count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        if dtype.isFloatingPoint {
            let values = (0..<count).map { i in Float(rng.nextDouble() * 4 - 2) * Float(1 + i % 5) }
            let size = Int(dtype.byteCount(elementCount: UInt64(count), innermost: UInt64(count))!)
            var out = [UInt8](repeating: 0, count: size)
            values.withUnsafeBufferPointer { s in out.withUnsafeMutableBytes { DTypeCodec.encode(s, as: dtype, into: $0) } }
            return out
        }
        return (0..<(count * dtype.elementSize!)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 7) }
    }

    @Test(arguments: DType.allCases, [TensorEncoding.raw, .zstd])
    func everyDTypeAndEncoding(dtype: DType, encoding: TensorEncoding) throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/t.qstar"
        let shapes: [[Int]] = dtype == .q8_0 ? [[32], [3, 64], [2, 2, 32]] : [[], [1], [7], [3, 5], [2, 3, 4, 5]]
        var expected: [String: [UInt8]] = [:]
        let w = try QStarWriter(path: path)
        for (i, shape) in shapes.enumerated() {
            let n = shape.reduce(1, *)
            let bytes = RoundTripTests.sampleBytes(dtype, count: n, seed: UInt64(i))
            try bytes.withUnsafeBytes { try w.addTensor(name: "t\(i)", dtype: dtype, shape: shape, encoding: encoding, bytes: $0) }
            expected["t\(i)"] = bytes
        }
        try w.finish(metadata: Metadata())
        let f = try QStarFile.open(path: path)
        #expect(f.tensors.count == shapes.count)
        for (i, shape) in shapes.enumerated() {
            let t = try f.tensor("t\(i)")
            #expect(t.shape == shape && t.dtype == dtype && t.info.encoding == encoding)
            #expect(t.copyBytes() == expected["t\(i)"]!)
            if dtype.isFloatingPoint {
                let all = try t.toFloat32()
                #expect(all.count == t.elementCount)
                // Partial decode of the last block-aligned range agrees with the full decode.
                let step = dtype == .q8_0 ? 32 : 1
                let range = (t.elementCount - step)..<t.elementCount
                var part = [Float](repeating: 0, count: step)
                try part.withUnsafeMutableBufferPointer { try t.decodeFloat32(elements: range, into: $0) }
                #expect(part.elementsEqual(all[range]) { $0.bitPattern == $1.bitPattern })
            } else {
                #expect(throws: QStarError.self) { try t.toFloat32() }
            }
        }
        #expect(f.verifyAll().isEmpty)
    }

    @Test func floatConversionsOnWrite() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/f.qstar"
        let values = (0..<64).map { Float($0) / 7 - 4 }
        let w = try QStarWriter(path: path)
        for dtype in [DType.f32, .f16, .bf16, .q8_0] {
            try w.addTensor(name: dtype.name, dtype: dtype, shape: [2, 32], float32: values)
        }
        #expect(throws: QStarError.self) { try w.addTensor(name: "i", dtype: .i32, shape: [1], float32: [1]) }
        try w.finish(metadata: Metadata())
        let f = try QStarFile.open(path: path)
        for dtype in [DType.f32, .f16, .bf16, .q8_0] {
            let got = try f.tensor(dtype.name).toFloat32()
            var expected = [Float](repeating: 0, count: 64)
            var bytes = [UInt8](repeating: 0, count: Int(dtype.byteCount(elementCount: 64, innermost: 32)!))
            values.withUnsafeBufferPointer { s in bytes.withUnsafeMutableBytes { DTypeCodec.encode(s, as: dtype, into: $0) } }
            bytes.withUnsafeBytes { b in expected.withUnsafeMutableBufferPointer { DTypeCodec.decode(b, dtype: dtype, into: $0) } }
            #expect(got == expected, "\(dtype)")
        }
    }

    /// A tensor streamed in many small, uneven appends equals the same tensor added at once;
    /// the zstd one is bigger than zstd's 128 KiB block, so its frame holds several blocks.
    @Test func streamingAppendsAndMultiBlockZstd() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let count = 300_000  // 1.2 MB of f32: ~9 zstd blocks
        var rng = SplitMix64(seed: 11)
        let values = (0..<count).map { i in Float(i % 1000) * 0.001 + (rng.next() % 4 == 0 ? 1 : 0) }
        let bytes = values.withUnsafeBytes { Array($0) }
        for encoding in [TensorEncoding.raw, .zstd] {
            let streamed = dir + "/s-\(encoding).qstar", whole = dir + "/w-\(encoding).qstar"
            let w = try QStarWriter(path: streamed)
            try w.beginTensor(name: "big", dtype: .f32, shape: [count / 100, 100], encoding: encoding)
            try bytes.withUnsafeBytes { b in
                var i = 0, step = 1
                while i < b.count {
                    let n = min(step, b.count - i)
                    try w.append(UnsafeRawBufferPointer(rebasing: b[i..<(i + n)]))
                    i += n
                    step = step * 3 % 9973 + 1  // 1, 4, 13, 40, ... uneven sizes up to ~10 KB
                }
            }
            try w.endTensor()
            try w.finish(metadata: Metadata([("k", .uint(1))]))
            let v = try QStarWriter(path: whole)
            try bytes.withUnsafeBytes { try v.addTensor(name: "big", dtype: .f32, shape: [count / 100, 100], encoding: encoding, bytes: $0) }
            try v.finish(metadata: Metadata([("k", .uint(1))]))

            let f = try QStarFile.open(path: streamed)
            let t = try f.tensor("big")
            #expect(t.copyBytes() == bytes)
            #expect(f.verifyAll().isEmpty)
            if encoding == .zstd {
                #expect(t.info.storedLength < UInt64(bytes.count) / 2)
                #expect(t.info.storedLength > 128 * 1024 / 64)  // not trivially tiny: real multi-block data
            }
            // zstd's streaming output does not depend on how the input was chunked.
            #expect(TestSupport.read(streamed) == TestSupport.read(whole))
        }
    }

    /// All zeros is zstd's best case (RLE blocks, 4 bytes per 128 KiB): the open-time bound of
    /// 32768x expansion must still admit it.
    @Test func maximallyCompressibleZstdTensorOpens() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/zeros.qstar"
        let zeros = [UInt8](repeating: 0, count: 32 << 20)
        let w = try QStarWriter(path: path)
        try zeros.withUnsafeBytes { try w.addTensor(name: "z", dtype: .u8, shape: [zeros.count], encoding: .zstd, bytes: $0) }
        try w.finish(metadata: Metadata())
        let f = try QStarFile.open(path: path)
        let info = try #require(f.info("z"))
        #expect(info.storedLength * 20000 < UInt64(zeros.count))  // really close to the bound
        let t = try f.tensor(info)
        #expect(t.withUnsafeBytes { $0.allSatisfy { $0 == 0 } && $0.count == zeros.count })
    }

    @Test func everyMetadataTypeRoundTrips() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/m.qstar"
        let metadata = Metadata([
            ("b", .bool(true)), ("u", .uint(.max)), ("i", .int(.min)), ("f", .float(-0.0)),
            ("nan", .float(.infinity)), ("s", .string("héllo\u{0}wörld")), ("empty", .string("")),
            ("ba", .boolArray([true, false])), ("ua", .uintArray([0, .max])), ("ia", .intArray([.min, .max])),
            ("fa", .floatArray([1.5, -2.25, .leastNonzeroMagnitude])), ("sa", .stringArray(["", "x", "🙂"])),
            ("none", .uintArray([])), ("A-Za-z0-9._-", .string("key alphabet")),
        ])
        let w = try QStarWriter(path: path)
        try w.finish(metadata: metadata)
        let f = try QStarFile.open(path: path)
        #expect(f.metadata == metadata)
        #expect(f.tensors.isEmpty)
        #expect(try f.metadata.uint("u") == .max)
        #expect(throws: QStarError.self) { try f.metadata.string("u") }
        do {
            _ = try f.metadata.uint("missing")
            Issue.record("expected a missing-key error")
        } catch {
            #expect(error.kind == .metadata && error.field == "missing")
        }
    }

    @Test func metadataOrderedMap() {
        var m = Metadata([("a", .uint(1)), ("b", .uint(2)), ("a", .uint(3))])
        #expect(m.keys == ["a", "b"] && m["a"] == .uint(3))
        m["c"] = .bool(true)
        m["a"] = nil
        #expect(m.keys == ["b", "c"])
        m["b"] = .string("x")
        #expect(m.keys == ["b", "c"] && m["b"] == .string("x"))
        #expect(throws: QStarError.self) { try m.float("c2") }
    }

    @Test func replaceMetadataKeepsTensorsAndAppendsIndex() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/r.qstar"
        try GoldenFiles.writeTiny(to: path)
        let before = TestSupport.read(path)
        let old = try QStarFile.open(path: path)
        let oldTensor = try old.tensor("token_embedding.weight")  // a live mapping across the edit
        var m = old.metadata
        m["general.name"] = .string("renamed")
        m["provenance.training_step"] = .uint(1234)
        m["test.flags"] = nil
        try QStarFile.replaceMetadata(path: path, with: m)
        let after = TestSupport.read(path)
        // The data region and the old index are untouched; only the header changed before them.
        #expect(after[64..<before.count] == before[64..<before.count])
        #expect(after.count > before.count)
        let f = try QStarFile.open(path: path)
        #expect(f.metadata == m)
        #expect(f.tensors.map(Placement.init) == old.tensors.map(Placement.init))
        #expect(f.header.indexOffset == UInt64(before.count))
        #expect(f.verifyAll().isEmpty)
        #expect(try oldTensor.toFloat32() == GoldenFiles.tinyEmbedding)
        // Twice: the previous index becomes dead space too.
        try QStarFile.replaceMetadata(path: path, with: Metadata([("x", .bool(false))]))
        let g = try QStarFile.open(path: path)
        #expect(g.metadata.keys == ["x"] && g.tensors.map(Placement.init) == old.tensors.map(Placement.init))
    }

    /// A crash between appending the new index and rewriting the header leaves trailing bytes
    /// that start with 'QIDX'; the reader says what happened and how to recover.
    @Test func interruptedReplaceIsDiagnosed() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/r.qstar"
        try GoldenFiles.writeMinimal(to: path)
        let original = TestSupport.read(path)
        try QStarFile.replaceMetadata(path: path, with: Metadata([("general.name", .string("edited"))]))
        let edited = TestSupport.read(path)
        let interrupted = Array(original[0..<64]) + Array(edited[64...])  // new index, old header
        let e = try #require(TestSupport.rejection(interrupted))
        #expect(e.kind == .invalid && e.field == "header.file_length" && e.offset == 16)
        #expect(e.message.contains("metadata replacement was interrupted"))
        #expect(e.message.contains("truncate the file to \(original.count) bytes"))
        #expect(TestSupport.rejection(Array(interrupted[0..<original.count])) == nil)
    }

    @Test func writerMisuseIsReportedAndCleansUp() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/bad.qstar"
        func kind(_ body: () throws -> Void) -> QStarError.Kind? {
            do { try body(); return nil } catch { return (error as? QStarError)?.kind }
        }
        do {
            let w = try QStarWriter(path: path)
            #expect(kind { try w.beginTensor(name: "", dtype: .f32, shape: [1]) } == .usage)
            #expect(kind { try w.beginTensor(name: "z", dtype: .f32, shape: [0]) } == .usage)
            #expect(kind { try w.beginTensor(name: "z", dtype: .f32, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1]) } == .usage)
            #expect(kind { try w.beginTensor(name: "q", dtype: .q8_0, shape: [2, 16]) } == .usage)
            #expect(kind { try w.beginTensor(name: "o", dtype: .u8, shape: [Int.max, Int.max]) } == .usage)
            #expect(kind { try w.addTensor(name: "q", dtype: .q8_0, shape: [32], float32: [Float](repeating: .nan, count: 32)) } == .usage)
            #expect(throws: Never.self) { try w.addTensor(name: "ok", dtype: .f32, shape: [1], float32: [1]) }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "failed writer removes its temp file")
        do {
            let w = try QStarWriter(path: path)
            try w.addTensor(name: "a", dtype: .f32, shape: [1], float32: [1])
            #expect(kind { try w.addTensor(name: "a", dtype: .f32, shape: [1], float32: [1]) } == .usage)
            try w.beginTensor(name: "b", dtype: .u8, shape: [4])
            #expect(kind { try w.finish(metadata: Metadata()) } == .usage)  // b still open
            try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try w.append($0) }
            #expect(kind { try w.endTensor() } == .usage)  // 3 of 4 bytes: the writer is now failed
            #expect(kind { try w.finish(metadata: Metadata()) } == .usage)
        }
        do {
            let w = try QStarWriter(path: path)
            #expect(kind { try w.finish(metadata: Metadata([("bad key", .bool(true))])) } == .usage)
            w.abort()
        }
        do {
            let w = try QStarWriter(path: path)
            _ = w  // dropped unfinished: deinit removes the temp file
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// Rename over an existing file that is mapped by a reader: the reader keeps its old bytes.
    @Test func overwritingAMappedFileIsSafe() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/m.qstar"
        try GoldenFiles.writeTiny(to: path)
        let old = try QStarFile.open(path: path)
        let view = try old.tensor("token_embedding.weight")
        try GoldenFiles.writeMinimal(to: path)
        #expect(try view.toFloat32() == GoldenFiles.tinyEmbedding)
        #expect(try QStarFile.open(path: path).tensors.count == 1)
    }

    @Test func tensorLookupAndForeignInfo() throws {
        let f = try QStarFile.open(path: TestSupport.fixture("golden/tiny.qstar"))
        let g = try QStarFile.open(path: TestSupport.fixture("golden/minimal.qstar"))
        #expect(f.info("output.weight")?.dtype == .bf16)
        #expect(f.info("nope") == nil)
        #expect(throws: QStarError.self) { try f.tensor("nope") }
        #expect(throws: QStarError.self) { try f.tensor(g.tensors[0]) }
        let t = try f.tensor("output.weight")
        var out = [Float](repeating: 0, count: 2)
        #expect(throws: QStarError.self) { try out.withUnsafeMutableBufferPointer { try t.decodeFloat32(elements: 5..<7, into: $0) } }
        let q = try f.tensor("layers.0.ffn.down.weight")
        var q16 = [Float](repeating: 0, count: 16)
        #expect(throws: QStarError.self) { try q16.withUnsafeMutableBufferPointer { try q.decodeFloat32(elements: 0..<16, into: $0) } }
    }
}

/// A directory entry without its position in the index (which moves when metadata changes).
struct Placement: Equatable {
    let name: String, dtypeCode: UInt32, encodingCode: UInt32, shape: [UInt64]
    let offset: UInt64, storedLength: UInt64, checksum: UInt64
    init(_ t: TensorInfo) {
        (name, dtypeCode, encodingCode, shape) = (t.name, t.dtypeCode, t.encodingCode, t.shape)
        (offset, storedLength, checksum) = (t.offset, t.storedLength, t.checksum)
    }
}
