import Foundation
import Testing
@testable import QuietStarFormat

/// `AtomicOutputFile`, `MappedFile` and `Paths`: the file plumbing every writer and reader uses.
@Suite struct FileTests {
    /// Everything in `dir` (names only).
    func contents(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func nothingAppearsUntilCommit() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let dest = dir + "/out.bin"
        let file = try AtomicOutputFile(destination: dest, bufferCapacity: 16)
        #expect(file.temporaryPath.hasPrefix(dest + ".tmp-\(getpid())-"))
        try file.write(Array("header--".utf8))
        try file.write([UInt8](repeating: 7, count: 100))   // larger than the buffer: written directly
        try file.write(zeros: 70_000)                         // more than one chunk of zeros
        try file.write(Array("tail".utf8))
        #expect(file.position == 8 + 100 + 70_000 + 4)
        try Array("HEADER".utf8).withUnsafeBytes { try file.overwrite(at: 0, with: $0) }
        #expect(contents(dir) == [Paths.baseName(of: file.temporaryPath)])
        try file.commit()
        #expect(file.isCommitted)
        #expect(contents(dir) == ["out.bin"])
        let bytes = TestSupport.read(dest)
        #expect(bytes.count == 70_112)
        #expect(Array(bytes[0..<8]) == Array("HEADER--".utf8))
        #expect(bytes[8..<108].allSatisfy { $0 == 7 } && bytes[108..<70_108].allSatisfy { $0 == 0 })
        #expect(Array(bytes[70_108...]) == Array("tail".utf8))
        #expect(throws: QStarError.self) { try file.write([1]) }
        #expect(throws: QStarError.self) { try file.commit() }
    }

    @Test func abortAndDeinitLeaveNothing() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let aborted = try AtomicOutputFile(destination: dir + "/a")
        try aborted.write([1, 2, 3])
        aborted.abort()
        aborted.abort()
        #expect(throws: QStarError.self) { try aborted.write([4]) }
        do {
            let dropped = try AtomicOutputFile(destination: dir + "/b")
            try dropped.write([1, 2, 3])
        }
        #expect(contents(dir).isEmpty)
    }

    /// A failing check (the writer's own reader) aborts: the destination keeps its old bytes.
    @Test func failedCheckKeepsTheOldFile() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let dest = dir + "/out.bin"
        TestSupport.write([9, 9], to: dest)
        let file = try AtomicOutputFile(destination: dest)
        try file.write([1, 2, 3])
        var checked: [UInt8] = []
        #expect(throws: QStarError.self) {
            try file.commit { (path) throws(QStarError) in
                checked = TestSupport.read(path)   // flushed and synced before the check
                throw QStarError(.invalid, path: path, "rejected")
            }
        }
        #expect(checked == [1, 2, 3])
        #expect(!file.isCommitted)
        #expect(contents(dir) == ["out.bin"])
        #expect(TestSupport.read(dest) == [9, 9])
    }

    /// Replacing a file someone has mapped leaves their view intact (rename, not overwrite).
    @Test func replacingAMappedFileKeepsTheMapping() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let dest = dir + "/out.bin"
        TestSupport.write([UInt8](repeating: 1, count: 10_000), to: dest)
        let old = try MappedFile(path: dest)
        let file = try AtomicOutputFile(destination: dest)
        try file.write([2, 2])
        try file.commit()
        #expect(old.bytes.count == 10_000 && old.bytes.allSatisfy { $0 == 1 })
        #expect(TestSupport.read(dest) == [2, 2])
    }

    @Test func misuseAndSystemFailuresAreErrors() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let file = try AtomicOutputFile(destination: dir + "/x")
        try file.write([1, 2, 3, 4])
        let past = #expect(throws: QStarError.self) { try [0, 0].withUnsafeBytes { try file.overwrite(at: 3, with: $0) } }
        #expect(past?.kind == .usage)
        file.abort()
        let missing = #expect(throws: QStarError.self) { _ = try AtomicOutputFile(destination: dir + "/no/such/dir/x") }
        #expect(missing?.kind == .io)
        #expect(missing?.path == dir + "/no/such/dir/x")
        #expect(missing?.message.hasPrefix("cannot create temporary file") == true)
        // Two writers of one destination never share a temporary file.
        let a = try AtomicOutputFile(destination: dir + "/y"), b = try AtomicOutputFile(destination: dir + "/y")
        #expect(a.temporaryPath != b.temporaryPath)
    }

    @Test func mappingFailuresSayWhy() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let missing = #expect(throws: MappedFile.Failure.self) { _ = try MappedFile(path: dir + "/nope") }
        #expect(missing?.reason == .cannotOpen)
        #expect(missing?.code == ENOENT)
        #expect(missing?.message.hasPrefix("cannot open: ") == true)
        let directory = #expect(throws: MappedFile.Failure.self) { _ = try MappedFile(path: dir) }
        #expect(directory?.reason == .notRegularFile)
        TestSupport.write([], to: dir + "/empty")
        #expect(try MappedFile(path: dir + "/empty").bytes.isEmpty)
        // QStarFile reports them as I/O errors naming the file.
        let qstar = #expect(throws: QStarError.self) { _ = try QStarFile.open(path: dir + "/nope") }
        #expect(qstar?.kind == .io)
        #expect(qstar?.description.hasPrefix(dir + "/nope: cannot open: No such file or directory") == true)
    }

    /// Released and advised pages read back unchanged (they come back from the file).
    @Test func releasedPagesReadBack() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        TestSupport.write(bytes, to: dir + "/f")
        let map = try MappedFile(path: dir + "/f")
        #expect(Array(map.bytes) == bytes)
        map.release(0..<map.bytes.count)
        map.release(5..<100_003)
        map.release(-10..<10_000_000)   // clamped to the file
        map.release(10..<10)
        map.advise(.sequential, 0..<map.bytes.count)
        map.advise(.willNeed, 4097..<4098)
        map.advise(.random, 0..<1)
        map.advise(.normal, 0..<map.bytes.count)
        #expect(Array(map.bytes) == bytes)
    }

    @Test func releasedTensorsReadBack() throws {
        let f = try QStarFile.open(path: TestSupport.fixture("golden/tiny.qstar"))
        let view = try f.tensor("token_embedding.weight")
        let before = try view.toFloat32()
        f.releaseStoredBytes(of: view.info)
        f.releaseStoredBytes(of: view.info, range: 3..<1_000_000)
        #expect(try view.toFloat32() == before)
        #expect(try f.tensor("token_embedding.weight").toFloat32() == GoldenFiles.tinyEmbedding)
    }

    /// One layout for every located error, whatever is known.
    @Test func locationsPrintOneWay() {
        #expect(FileLocation(path: "m.qstar", field: "index.tensors[3].offset", offset: 1234).describing("bad")
            == "m.qstar: index.tensors[3].offset at byte 1234: bad")
        #expect(FileLocation(path: "config.json", offset: 15).describing("bad") == "config.json at byte 15: bad")
        #expect(FileLocation(field: "header_length").describing("bad") == "header_length: bad")
        #expect(FileLocation(offset: 8).description == "at byte 8")
        #expect(FileLocation().describing("bad") == "bad")
        #expect(QStarError(.invalid, field: "header.magic", offset: 0, "not a .qstar file").description
            == "<memory>: header.magic at byte 0: not a .qstar file")
        #expect(QStarError(.io, path: "x.qstar", "cannot open").description == "x.qstar: cannot open")
    }

    @Test func pathArithmetic() {
        #expect(Paths.parent(of: "a/b/c.qstar") == "a/b")
        #expect(Paths.parent(of: "c.qstar") == ".")
        #expect(Paths.parent(of: "/c") == "/")
        #expect(Paths.parent(of: "a/b/") == "a")
        #expect(Paths.parent(of: "/") == "/")
        #expect(Paths.baseName(of: "a/b/c.qstar") == "c.qstar")
        #expect(Paths.baseName(of: "a/b//") == "b")
        #expect(Paths.baseName(of: "c") == "c")
        #expect(Paths.join("a/b", "c") == "a/b/c")
        #expect(Paths.join("a/b/", "c") == "a/b/c")
    }
}
