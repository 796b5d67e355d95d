import Foundation
@testable import QuietStarFormat

/// The hostile-file corpus: each case is a small crafted file and what a reader must say about
/// it. Written to fixtures/format/reject/ (and accept/) with a manifest by
/// `QSTAR_WRITE_FIXTURES=1 swift test --filter Rejection`; the tests check both the in-memory
/// cases and the committed files.
struct CorpusCase {
    enum Stage: String, Codable { case open, decode }
    let name: String
    let bytes: [UInt8]
    /// Where the reader must reject it: at open (header/index/directory), or when the tensor
    /// data is decoded or verified (open must succeed: it never reads tensor data).
    let stage: Stage
    let kind: QStarError.Kind
    let field: String
    /// A phrase the message must contain (the specific diagnosis).
    let message: String
}

/// What the manifest records per file.
struct Expectation: Codable, Equatable {
    let stage: CorpusCase.Stage
    let kind: String
    let field: String
    let message: String
}

extension QStarError.Kind {
    var name: String { String(describing: self) }
}

enum RejectCorpus {
    static let blob: [UInt8] = [Float(1), 2, 3, 4].withUnsafeBytes { Array($0) }
    static let p63: UInt64 = 1 << 63

    /// A valid file: metadata written by `meta`, one f32 [4] tensor "w" at offset 64.
    static func valid(minor: UInt16 = 0, flags: UInt64 = 0, metadataCount: UInt64 = 1,
                      meta: (inout IndexBuilder) -> Void = { $0.entry("k", type: 1, value: le64(7)) },
                      tensors: (inout CraftedFile) -> Void = { f in single(&f) }) -> CraftedFile {
        var f = CraftedFile()
        f.minor = minor
        f.flags = flags
        let off = f.addBlob(blob)
        f.index.u64(metadataCount)
        meta(&f.index)
        precondition(off == 64)
        tensors(&f)
        return f
    }

    /// A valid header and metadata; `tensors` writes tensor_count and the directory.
    static func withTensors(minor: UInt16 = 0, _ tensors: (inout CraftedFile) -> Void) -> CraftedFile {
        valid(minor: minor, tensors: tensors)
    }

    /// One tensor entry (tensor_count 1) for `f`, blob placed by the caller.
    static func single(_ f: inout CraftedFile, name: [UInt8] = Array("w".utf8), dtype: UInt32 = 0, encoding: UInt32 = 0,
                       dims: [UInt64] = [4], offset: UInt64? = nil, storedLength: UInt64 = 16, checksum: UInt64? = nil) {
        f.index.u64(1)
        f.index.tensor(name, dtype: dtype, encoding: encoding, dims: dims, offset: offset ?? 64,
                       storedLength: storedLength, checksum: checksum ?? XXH64.hash(blob))
    }

    static func patched(_ f: CraftedFile, reseal doReseal: Bool = true, _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var b = f.bytes()
        edit(&b)
        if doReseal { reseal(&b) }
        return b
    }

    static func zstdFile(_ frame: [UInt8], logical: UInt64 = 16) -> [UInt8] {
        withTensors { f in
            let off = f.addBlob(frame)
            f.index.u64(1)
            f.index.tensor(Array("z".utf8), dtype: 6, encoding: 1, dims: [logical], offset: off,
                           storedLength: UInt64(frame.count), checksum: XXH64.hash(frame))
        }.bytes()
    }

    static func frame(_ count: Int, declare: Bool) -> [UInt8] {
        let input = (0..<count).map { UInt8($0 % 3) }
        return try! input.withUnsafeBytes { try Zstd.Compressor.frame($0, declareContentSize: declare) }
    }

    static func rejects() -> [CorpusCase] {
        let good = valid().bytes()
        var cases: [CorpusCase] = []
        func add(_ name: String, _ bytes: [UInt8], _ kind: QStarError.Kind, _ field: String, _ message: String,
                 stage: CorpusCase.Stage = .open) {
            cases.append(CorpusCase(name: name, bytes: bytes, stage: stage, kind: kind, field: field, message: message))
        }
        func replacing(_ b: [UInt8], _ from: [UInt8], _ to: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [], i = 0
            while i < b.count {
                if i + from.count <= b.count && Array(b[i..<(i + from.count)]) == from { out += to; i += from.count } else { out.append(b[i]); i += 1 }
            }
            return out
        }

        // Header
        add("empty", [], .notQStar, "header.magic", "empty")
        add("short-header", Array(good[0..<40]), .notQStar, "header", "shorter than the 64-byte header")
        add("crlf-to-lf", replacing(good, [0x0D, 0x0A], [0x0A]), .notQStar, "header.magic", "CRLF -> LF translation")
        add("lf-to-crlf", replacing(good, [0x0A], [0x0D, 0x0A]), .notQStar, "header.magic", "LF -> CRLF translation")
        add("high-bit-stripped", good.enumerated().map { $0.offset == 0 ? 0x09 : $0.element }, .notQStar,
            "header.magic", "high bit")
        add("gguf", Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 64), .notQStar, "header.magic", "GGUF")
        add("safetensors", le64(2) + Array("{}".utf8), .notQStar, "header.magic", "safetensors")
        add("byte-swapped-bom", patched(valid()) { $0.putU32(0x0D0C_0B0A, at: 8) }, .notQStar,
            "header.byte_order_mark", "byte-swapped")
        add("bad-bom", patched(valid()) { $0.putU32(0x0A0B_0C0E, at: 8) }, .invalid, "header.byte_order_mark", "expected 0x0A0B0C0D")
        add("major-2", patched(valid()) { $0.putU16(2, at: 12) }, .unsupportedVersion, "header.major",
            "file is format version 2.0; this reader supports 1.x")
        add("header-checksum", patched(valid(), reseal: false) { $0[20] ^= 1 }, .checksumMismatch,
            "header.header_xxh64", "header is corrupted")
        add("unknown-flags", valid(flags: 4).bytes(), .invalid, "header.flags", "unknown flag bits 0x4")
        add("truncated", Array(good.dropLast()), .invalid, "header.file_length", "truncated (1 bytes missing)")
        add("trailing-bytes", good + [0], .invalid, "header.file_length", "1 trailing bytes")
        add("interrupted-edit", good + Array("QIDX".utf8) + [UInt8](repeating: 0, count: 16), .invalid,
            "header.file_length", "metadata replacement was interrupted")
        add("index-offset-in-header", patched(valid()) { b in
            b.putU64(32, at: 24)
            b.putU64(UInt64(b.count - 32), at: 32)
        }, .invalid, "header.index_offset", "inside the 64-byte header")
        add("index-length-overflow", patched(valid()) { $0.putU64(.max, at: 32) }, .invalid, "header.index_length", "overflows 64 bits")
        add("index-length-mismatch", patched(valid()) { $0.putU64($0.u64(at: 32) - 1, at: 32) }, .invalid,
            "header.index_length", "must end exactly at file_length")
        add("index-checksum", patched(valid(), reseal: false) { b in
            b[b.count - 1] ^= 0x40
        }, .checksumMismatch, "header.index_xxh64", "index is corrupted")
        do {
            var f = CraftedFile()
            f.index.raw([1, 2, 3, 4, 5, 6])
            add("index-too-small", f.bytes(), .invalid, "header.index_length", "smaller than the smallest index")
        }

        // Index and metadata
        add("index-magic", patched(valid()) { b in b[Int(b.u64(at: 24))] = UInt8(ascii: "X") }, .invalid, "index.magic", "expected 'QIDX'")
        add("metadata-count-2^63", valid(metadataCount: p63).bytes(), .invalid, "index.metadata_count", "exceeds the limit")
        add("metadata-count-past-end", valid(metadataCount: 1000).bytes(), .invalid, "index.metadata_count", "needs at least 21000 bytes")
        add("tensor-count-2^63", withTensors { f in f.index.u64(p63) }.bytes(), .invalid, "index.tensor_count", "exceeds the limit")
        add("tensor-count-past-end", withTensors { f in f.index.u64(3); f.index.raw([UInt8](repeating: 0, count: 100)) }.bytes(),
            .invalid, "index.tensor_count", "needs at least 135 bytes")
        add("key-length-2^63", valid { $0.u64(p63); $0.raw([UInt8](repeating: 0x61, count: 30)) }.bytes(), .invalid,
            "index.metadata[0].key.length", "exceeds the limit 256")
        add("key-bad-char", valid { $0.entry("a b", type: 1, value: le64(1)) }.bytes(), .invalid, "index.metadata[0].key", "0x20")
        add("key-empty", valid { $0.entry("", type: 1, value: le64(1)) }.bytes(), .invalid, "index.metadata[0].key", "key is empty")
        add("duplicate-key", valid(metadataCount: 2) { $0.entry("k", type: 1, value: le64(1)); $0.entry("k", type: 2, value: le64(1)) }.bytes(),
            .invalid, "index.metadata[1].key", "duplicate metadata key 'k'")
        add("unknown-value-type", valid { $0.entry("k", type: 9, value: [1]) }.bytes(), .invalid,
            "index.metadata[0].value_type", "unknown value type 9")
        add("value-length-mismatch", valid { $0.entry("k", type: 1, value: le64(1) + [0]) }.bytes(), .invalid,
            "index.metadata[0].value_length", "value_length is 9 but the u64 value of 'k' occupies 8 bytes")
        add("value-length-2^63", valid { $0.string("k"); $0.u32(1); $0.u64(p63); $0.raw(le64(1)) }.bytes(), .invalid,
            "index.metadata[0].value_length", "runs past the end of the index")
        add("value-truncated", valid { $0.entry("k", type: 1, value: [1, 2, 3]) }.bytes(), .invalid,
            "index.metadata[0] ('k')", "needs 8 bytes but only 3 remain")
        add("bool-2", valid { $0.entry("k", type: 0, value: [2]) }.bytes(), .invalid, "index.metadata[0] ('k')", "bool byte is 2")
        add("string-length-2^63", valid { $0.entry("k", type: 4, value: le64(p63) + [0x61]) }.bytes(), .invalid,
            "index.metadata[0] ('k').length", "exceeds the limit 268435456")
        add("string-past-value", valid { $0.entry("k", type: 4, value: le64(5) + [0x61]) }.bytes(), .invalid,
            "index.metadata[0] ('k').length", "runs past the end")
        add("string-invalid-utf8", valid { $0.entry("k", type: 4, value: le64(2) + [0xC3, 0x28]) }.bytes(), .invalid,
            "index.metadata[0] ('k')", "not valid UTF-8")
        add("array-count-2^63", valid { $0.entry("k", type: 5, value: le32(1) + le64(p63)) }.bytes(), .invalid,
            "index.metadata[0] ('k').count", "exceeds the limit 268435456")
        add("array-count-past-value", valid { $0.entry("k", type: 5, value: le32(1) + le64(3) + le64(1)) }.bytes(), .invalid,
            "index.metadata[0] ('k').count", "needs at least 24 bytes but only 8 remain")
        add("nested-array", valid { $0.entry("k", type: 5, value: le32(5) + le64(0)) }.bytes(), .invalid,
            "index.metadata[0] ('k').element_type", "nested arrays")
        add("unknown-element-type", valid { $0.entry("k", type: 5, value: le32(9) + le64(0)) }.bytes(), .invalid,
            "index.metadata[0] ('k').element_type", "unknown array element type 9")
        add("string-array-element-2^63", valid { $0.entry("k", type: 5, value: le32(4) + le64(1) + le64(p63)) }.bytes(), .invalid,
            "index.metadata[0] ('k')[0].length", "exceeds the limit")
        add("bool-array-2", valid { $0.entry("k", type: 5, value: le32(0) + le64(2) + [1, 3]) }.bytes(), .invalid,
            "index.metadata[0] ('k')[1]", "bool byte is 3")

        // Tensor directory
        add("name-length-2^63", withTensors { f in f.index.u64(1); f.index.u64(p63); f.index.raw([UInt8](repeating: 0, count: 60)) }.bytes(),
            .invalid, "index.tensors[0].name.length", "exceeds the limit 1024")
        add("name-empty", withTensors { f in single(&f, name: []) }.bytes(), .invalid, "index.tensors[0].name.length", "empty")
        add("name-invalid-utf8", withTensors { f in single(&f, name: [0x61, 0xFF]) }.bytes(), .invalid, "index.tensors[0].name", "not valid UTF-8")
        add("name-nul", withTensors { f in single(&f, name: [0x61, 0, 0x62]) }.bytes(), .invalid, "index.tensors[0].name", "NUL")
        add("duplicate-names", withTensors { f in
            let off = f.addBlob(blob)
            f.index.u64(2)
            f.index.tensor(Array("w".utf8), dtype: 0, dims: [4], offset: 64, storedLength: 16, checksum: XXH64.hash(blob))
            f.index.tensor(Array("w".utf8), dtype: 0, dims: [4], offset: off, storedLength: 16, checksum: XXH64.hash(blob))
        }.bytes(), .invalid, "index.tensors[1].name", "duplicate tensor name 'w'")
        add("unknown-dtype", withTensors { f in single(&f, dtype: 42) }.bytes(), .invalid, "index.tensors[0].dtype", "unknown dtype 42")
        add("unknown-encoding", withTensors { f in single(&f, encoding: 7) }.bytes(), .invalid, "index.tensors[0].encoding", "unknown encoding 7")
        add("rank-9", withTensors { f in single(&f, dims: [UInt64](repeating: 1, count: 9)) }.bytes(), .invalid, "index.tensors[0].rank", "rank 9")
        add("zero-dim", withTensors { f in single(&f, dims: [4, 0]) }.bytes(), .invalid, "index.tensors[0].dims[1]", "dimension 1 is 0")
        add("dims-product-overflow", withTensors { f in single(&f, dims: [1 << 33, 1 << 33]) }.bytes(), .invalid,
            "index.tensors[0].dims[1]", "element count overflows 64 bits")
        add("byte-size-overflow", withTensors { f in single(&f, dims: [1 << 62]) }.bytes(), .invalid, "index.tensors[0].dims", "overflows 64 bits")
        add("q8-innermost-not-32", withTensors { f in single(&f, dtype: 3, dims: [2, 16], storedLength: 68) }.bytes(), .invalid,
            "index.tensors[0].dims", "multiple of 32")
        add("q8-scalar", withTensors { f in single(&f, dtype: 3, dims: [], storedLength: 34) }.bytes(), .invalid,
            "index.tensors[0].dims", "multiple of 32")
        add("stored-length-zero", withTensors { f in single(&f, encoding: 1, storedLength: 0) }.bytes(), .invalid,
            "index.tensors[0].stored_length", "stored_length is 0")
        add("raw-misaligned", withTensors { f in f.data += [UInt8](repeating: 0, count: 64); single(&f, offset: 72) }.bytes(), .invalid,
            "index.tensors[0].offset", "offset 72 is not 64-byte aligned")
        add("raw-length-mismatch", withTensors { f in single(&f, storedLength: 15) }.bytes(), .invalid,
            "index.tensors[0].stored_length", "raw stored_length 15 != 16 bytes")
        add("zstd-impossible-expansion", withTensors { f in single(&f, dtype: 6, encoding: 1, dims: [1 << 40], storedLength: 16) }.bytes(),
            .invalid, "index.tensors[0].stored_length", "expands at most 32768x")
        add("offset-in-header", withTensors { f in single(&f, offset: 0) }.bytes(), .invalid, "index.tensors[0].offset",
            "inside the 64-byte header")
        add("offset-past-end", withTensors { f in single(&f, offset: 128) }.bytes(), .invalid, "index.tensors[0].offset",
            "runs past the data region")
        add("offset-plus-length-overflow", withTensors { f in single(&f, dtype: 6, dims: [p63], offset: p63, storedLength: p63) }.bytes(),
            .invalid, "index.tensors[0].offset", "overflows 64 bits")
        add("overlapping", withTensors { f in
            _ = f.addBlob(blob + blob)
            f.index.u64(2)
            f.index.tensor(Array("a".utf8), dtype: 0, dims: [4], offset: 64, storedLength: 16, checksum: XXH64.hash(blob))
            f.index.tensor(Array("b".utf8), dtype: 6, encoding: 1, dims: [16], offset: 72, storedLength: 16, checksum: 0)
        }.bytes(), .invalid, "index.tensors[1].offset", "'b' [72, 88) overlaps 'a' [64, 80)")
        add("leftover-index-bytes", withTensors { f in single(&f); f.index.raw([0, 0, 0]) }.bytes(), .invalid, "index",
            "3 bytes left over")

        // Tensor data (found when decoding or verifying, never at open)
        let f16 = frame(16, declare: false)
        add("zstd-declares-more", zstdFile(frame(20, declare: true)), .invalid, "index.tensors['z'] zstd data",
            "frame declares 20 bytes of content but the tensor's logical size is 16", stage: .decode)
        add("zstd-declares-less", zstdFile(frame(12, declare: true)), .invalid, "index.tensors['z'] zstd data",
            "frame declares 12 bytes", stage: .decode)
        add("zstd-long", zstdFile(frame(20, declare: false)), .invalid, "index.tensors['z'] zstd data",
            "decodes to more than the tensor's logical size 16", stage: .decode)
        add("zstd-short", zstdFile(frame(12, declare: false)), .invalid, "index.tensors['z'] zstd data",
            "decodes to 12 bytes, short of", stage: .decode)
        add("zstd-trailing-bytes", zstdFile(f16 + [1, 2, 3]), .invalid, "index.tensors['z'] zstd data",
            "3 bytes follow the zstd frame", stage: .decode)
        add("zstd-truncated", zstdFile(Array(f16.dropLast(2))), .invalid, "index.tensors['z'] zstd data",
            "damaged or truncated", stage: .decode)
        add("zstd-not-a-frame", zstdFile([0x28, 0xB5, 0x2F, 0xFE, 0, 0, 0, 0]), .invalid, "index.tensors['z'] zstd data",
            "do not start with a zstd frame", stage: .decode)
        add("tensor-checksum", withTensors { f in single(&f, checksum: 12345) }.bytes(), .checksumMismatch,
            "index.tensors['w'].xxh64", "tensor data is corrupted", stage: .decode)
        return cases
    }

    /// Files a 1.0 reader must accept (forward compatibility, gaps, frames without a size).
    static func accepts() -> [(name: String, bytes: [UInt8])] {
        [
            ("newer-minor-unknown-value-type",
             valid(minor: 1, metadataCount: 3) {
                 $0.entry("future.thing", type: 9, value: [1, 2, 3, 4, 5])
                 $0.entry("future.empty", type: 77, value: [])
                 $0.entry("general.name", type: 4, value: le64(1) + [0x78])
             }.bytes()),
            ("newer-minor-unknown-element-type",
             valid(minor: 1, metadataCount: 2) {
                 $0.entry("future.array", type: 5, value: le32(11) + le64(2) + [9, 9])
                 $0.entry("general.name", type: 4, value: le64(1) + [0x78])
             }.bytes()),
            ("newer-minor-unknown-dtype", withTensors(minor: 1) { f in single(&f, dtype: 42, dims: [3, 3], storedLength: 16) }.bytes()),
            ("newer-minor-unknown-encoding", withTensors(minor: 1) { f in single(&f, encoding: 7, storedLength: 16) }.bytes()),
            ("newer-minor-unknown-flags", valid(minor: 1, flags: 1 << 40).bytes()),
            ("gaps-between-tensors", withTensors { f in
                f.data += [UInt8](repeating: 0xEE, count: 200)
                let a = f.addBlob(blob)
                f.data += [UInt8](repeating: 0xDD, count: 7)
                let b = f.addBlob(blob)
                f.index.u64(2)
                f.index.tensor(Array("b".utf8), dtype: 0, dims: [4], offset: b, storedLength: 16, checksum: XXH64.hash(blob))
                f.index.tensor(Array("a".utf8), dtype: 0, dims: [2, 2], offset: a, storedLength: 16, checksum: XXH64.hash(blob))
            }.bytes()),
            ("zstd-without-content-size", zstdFile(frame(16, declare: false))),
        ]
    }
}
