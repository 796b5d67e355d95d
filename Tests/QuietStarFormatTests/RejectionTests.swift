import Foundation
import Testing
@testable import QuietStarFormat

/// Hostile and damaged files: each is rejected with a specific error naming the field and the
/// byte offset, at open when the damage is in the header or index, and on decode/verify when
/// it is in tensor data. Nothing may crash, hang, or allocate in proportion to a hostile count.
@Suite struct RejectionTests {
    static let rejectDir = TestSupport.fixture("reject")
    static let acceptDir = TestSupport.fixture("accept")

    /// Opens `bytes` from a real file (so decode-stage checks run through the mapping) and
    /// returns the first error: at open, or from decoding and verifying every tensor.
    static func firstError(_ bytes: [UInt8], in dir: String) -> (CorpusCase.Stage, QStarError)? {
        let path = dir + "/case.qstar"
        TestSupport.write(bytes, to: path)
        let f: QStarFile
        do { f = try QStarFile.open(path: path) } catch { return (.open, error) }
        for t in f.tensors {
            do {
                try f.verify(t)
                _ = try f.tensor(t)
            } catch {
                return (.decode, error)
            }
        }
        return nil
    }

    @Test(arguments: RejectCorpus.rejects())
    func craftedFileIsRejectedPrecisely(_ c: CorpusCase) throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let (stage, e) = try #require(RejectionTests.firstError(c.bytes, in: dir), "\(c.name) was accepted")
        #expect(stage == c.stage, "\(c.name): \(e)")
        #expect(e.kind == c.kind, "\(c.name): \(e)")
        #expect(e.field == c.field, "\(c.name): \(e)")
        #expect(e.offset != nil && e.path != nil, "\(c.name): \(e)")
        #expect(e.message.contains(c.message), "\(c.name): \(e)")
        // The in-memory validator agrees with the file reader at the open stage.
        if c.stage == .open {
            #expect(TestSupport.rejection(c.bytes)?.field == c.field)
        } else {
            #expect(TestSupport.rejection(c.bytes) == nil)
        }
    }

    @Test func acceptedForwardCompatibleFiles() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let files = Dictionary(uniqueKeysWithValues: RejectCorpus.accepts().map { ($0.name, $0.bytes) })
        func open(_ name: String) throws -> QStarFile {
            TestSupport.write(files[name]!, to: dir + "/" + name)
            return try QStarFile.open(path: dir + "/" + name)
        }
        let unknownType = try open("newer-minor-unknown-value-type")
        #expect(unknownType.version == FormatVersion(major: 1, minor: 1))
        #expect(unknownType.metadata == Metadata([("general.name", .string("x"))]))
        #expect(try open("newer-minor-unknown-element-type").metadata.keys == ["general.name"])
        for name in ["newer-minor-unknown-dtype", "newer-minor-unknown-encoding"] {
            let f = try open(name)
            let t = f.tensors[0]
            #expect(t.dtype == nil || t.encoding == nil)
            #expect(throws: Never.self) { try f.verify(t) }  // the checksum is still checkable
            do {
                _ = try f.tensor(t)
                Issue.record("\(name): decoding an unknown code must fail")
            } catch {
                #expect(error.kind == .unsupported)
                #expect(error.message.contains(name.hasSuffix("dtype") ? "dtype#42" : "encoding#7"))
                #expect(error.message.contains("file is version 1.1"))
            }
        }
        #expect(try open("newer-minor-unknown-flags").header.flags == 1 << 40)
        let gaps = try open("gaps-between-tensors")
        #expect(try gaps.tensor("a").toFloat32() == [1, 2, 3, 4] && gaps.verifyAll().isEmpty)
        let z = try open("zstd-without-content-size")
        let zb = try z.tensor("z").copyBytes()
        #expect(zb == (0..<16).map { UInt8($0 % 3) }, "\(zb)")
    }

    /// The committed corpus matches the generator, and every file in reject/ (including ones
    /// added later, e.g. by fuzzing, without a manifest entry) is rejected.
    @Test func committedCorpus() throws {
        let cases = RejectCorpus.rejects()
        let manifestPath = RejectionTests.rejectDir + "/manifest.json"
        if GoldenTests.regenerate {
            let fm = FileManager.default
            try fm.createDirectory(atPath: RejectionTests.rejectDir, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: RejectionTests.acceptDir, withIntermediateDirectories: true)
            var manifest: [String: Expectation] = [:]
            for c in cases {
                TestSupport.write(c.bytes, to: RejectionTests.rejectDir + "/\(c.name).qstar")
                manifest[c.name + ".qstar"] = Expectation(stage: c.stage, kind: c.kind.name, field: c.field, message: c.message)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(manifest).write(to: URL(fileURLWithPath: manifestPath))
            for a in RejectCorpus.accepts() { TestSupport.write(a.bytes, to: RejectionTests.acceptDir + "/\(a.name).qstar") }
        }
        let manifest = try JSONDecoder().decode([String: Expectation].self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        for c in cases {
            #expect(TestSupport.read(RejectionTests.rejectDir + "/\(c.name).qstar") == c.bytes, "\(c.name) is stale: regenerate")
            #expect(manifest[c.name + ".qstar"] == Expectation(stage: c.stage, kind: c.kind.name, field: c.field, message: c.message))
        }
        for a in RejectCorpus.accepts() {
            #expect(TestSupport.read(RejectionTests.acceptDir + "/\(a.name).qstar") == a.bytes, "\(a.name) is stale")
        }
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let files = try FileManager.default.contentsOfDirectory(atPath: RejectionTests.rejectDir).filter { $0.hasSuffix(".qstar") }
        #expect(files.count >= cases.count)
        for name in files {
            let bytes = TestSupport.read(RejectionTests.rejectDir + "/" + name)
            let got = RejectionTests.firstError(bytes, in: dir)
            #expect(got != nil, "\(name) was accepted")
            if let (stage, e) = got, let m = manifest[name] {
                #expect(stage == m.stage && e.kind.name == m.kind && e.field == m.field && e.message.contains(m.message), "\(name): \(e)")
            }
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: RejectionTests.acceptDir) {
            #expect(RejectionTests.firstError(TestSupport.read(RejectionTests.acceptDir + "/" + name), in: dir).map { $0.0 } != .open,
                    "\(name) must open")
        }
    }

    /// Every proper prefix of a valid file is rejected at open, as truncated.
    @Test func everyTruncationIsRejected() throws {
        let bytes = TestSupport.read(TestSupport.fixture("golden/tiny.qstar"))
        for n in 0..<bytes.count {
            guard let e = TestSupport.rejection(Array(bytes[0..<n])) else {
                Issue.record("prefix of \(n) bytes accepted")
                continue
            }
            if n < 64 {
                #expect(e.kind == .notQStar && e.field!.hasPrefix("header"), "\(n): \(e)")
            } else {
                #expect(e.kind == .invalid && e.field == "header.file_length" && e.message.contains("truncated"), "\(n): \(e)")
            }
        }
    }

    /// Any single damaged byte in the header or index is caught at open (checksums); in tensor
    /// data it is caught by verify for the tensor that holds it; in padding it is harmless.
    @Test func singleByteCorruptionsAreCaught() throws {
        let bytes = TestSupport.read(TestSupport.fixture("golden/tiny.qstar"))
        let info = try TestSupport.validate(bytes)
        let indexOffset = Int(bytes.u64(at: 24))
        var positions = Array(0..<64) + Array(indexOffset..<bytes.count)
        for flip: UInt8 in [0x01, 0x80, 0xFF] {
            for i in positions {
                var b = bytes
                b[i] ^= flip
                guard let e = TestSupport.rejection(b) else {
                    Issue.record("byte \(i) ^ \(flip) accepted")
                    continue
                }
                #expect(e.field != nil && e.offset != nil)
                if i >= 16 {
                    #expect(e.kind == .checksumMismatch || e.field == "header.file_length" || e.field == "header.index_length"
                            || e.field == "header.index_offset" || e.field == "header.flags", "byte \(i): \(e)")
                }
            }
        }
        // Data region, through the file reader.
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        positions = Array(64..<indexOffset)
        for i in positions {
            var b = bytes
            b[i] ^= 0x01
            let path = dir + "/d.qstar"
            TestSupport.write(b, to: path)
            let f = try QStarFile.open(path: path)
            let failures = f.verifyAll()
            let owner = info.tensors.first { UInt64(i) >= $0.offset && UInt64(i) < $0.offset + $0.storedLength }
            if let owner {
                #expect(failures.count == 1 && failures[0].0.name == owner.name && failures[0].1.kind == .checksumMismatch,
                        "data byte \(i)")
            } else {
                #expect(failures.isEmpty, "padding byte \(i)")
            }
        }
    }

    /// Checksums re-sealed after the damage, so the structural checks themselves are exercised:
    /// every byte of the header and index, several bit patterns. Each result is either a
    /// precise error, or a file whose directory still satisfies every invariant.
    @Test func resealedCorruptionsExerciseStructuralValidation() throws {
        var sources = [TestSupport.read(TestSupport.fixture("golden/tiny.qstar"))]
        sources += RejectCorpus.accepts().map(\.bytes)
        var accepted = 0, rejected = 0
        for bytes in sources {
            let indexOffset = Int(bytes.u64(at: 24))
            for i in Array(0..<56) + Array(indexOffset..<bytes.count) {
                for v: UInt8 in [0x01, 0x80, 0xFF, 0x00, 0x40] {
                    var b = bytes
                    b[i] = v == 0 ? 0 : (v == 0x40 ? 0x40 : b[i] ^ v)
                    reseal(&b)
                    do {
                        let r = try TestSupport.validate(b)
                        accepted += 1
                        // Invariants of an accepted file.
                        #expect(Set(r.tensors.map(\.name)).count == r.tensors.count)
                        let io = b.u64(at: 24)
                        for t in r.tensors {
                            #expect(t.offset >= 64 && t.offset + t.storedLength <= io)
                            if t.encoding == .raw, let n = t.logicalByteCount { #expect(t.offset % 64 == 0 && n == t.storedLength) }
                        }
                    } catch {
                        rejected += 1
                        #expect(error.field != nil && error.offset != nil && error.kind != .checksumMismatch
                                || (i < 16 && error.kind == .notQStar), "byte \(i) = \(v): \(error)")
                    }
                }
            }
        }
        #expect(rejected > accepted)
    }
}
