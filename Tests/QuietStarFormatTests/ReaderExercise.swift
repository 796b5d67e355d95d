#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if !QSTAR_FUZZ
@testable import QuietStarFormat
#endif

// What the .qstar reader's fuzz target does with one input, shared by the libFuzzer entry
// (tools/fuzz/ReaderFuzz.swift, compiled into the format module with -D QSTAR_FUZZ) and by
// `FuzzCorpusReplayTests`, which replays every committed corpus file through it on every test
// run. Each input is tried as is and "resealed" (every checksum recomputed, so mutations reach
// the structural validation behind them); a valid one is then opened through mmap, compared
// with the in-memory reader and every tensor verified and decoded. A trap, a sanitizer report or
// a disagreement between the two readers is a finding.
enum ReaderExercise {
    /// Runs the checks on `input` (a failed check traps); returns how many of its two forms (as
    /// is, resealed) the reader accepted and the checks went through in full.
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Int {
        var accepted = 0
        // 1. As is.
        if let parsed = try? QStarFile.validate(bytes: input, name: "input") {
            exercise(input, parsed)
            accepted += 1
        }
        // 2. Resealed.
        var bytes = Array(input)
        guard reseal(&bytes) else { return accepted }
        bytes.withUnsafeBytes { b in
            guard let parsed = try? QStarFile.validate(bytes: b, name: "resealed") else { return }
            exercise(b, parsed)
            accepted += 1
        }
        return accepted
    }
}

/// Where a valid input is written so that the mmap path (`QStarFile.open`) is fuzzed too.
/// /dev/shm keeps it off the disk; one file per process, rewritten for every input.
private let scratchPath: String = {
    var st = stat()
    let dir = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp"
    return "\(dir)/qstar-reader-fuzz-\(getpid()).qstar"
}()

/// Reads all metadata, then opens the same bytes from a file and decodes every tensor.
private func exercise(_ bytes: UnsafeRawBufferPointer,
                      _ parsed: (version: FormatVersion, metadata: Metadata, tensors: [TensorInfo])) {
    readMetadata(parsed.metadata)
    for t in parsed.tensors {
        // Invariants the directory promises once validated.
        precondition(t.storedLength > 0 && t.offset >= 64)
        precondition(t.offset + t.storedLength <= UInt64(bytes.count))
        if t.encoding == .raw, let logical = t.logicalByteCount { precondition(t.storedLength == logical) }
        _ = t.dtypeName.utf8.count + t.encodingName.utf8.count
    }
    guard writeScratch(bytes) else { return }
    defer { unlink(scratchPath) }
    let file: QStarFile
    do {
        file = try QStarFile.open(path: scratchPath)
    } catch {
        fatalError("validate(bytes:) accepted what open(path:) rejects: \(error)")
    }
    // The two entry points must agree on everything.
    precondition(file.version == parsed.version)
    precondition(identical(file.metadata, parsed.metadata))
    precondition(file.tensors == parsed.tensors)
    precondition(file.fileLength == UInt64(bytes.count))

    for t in file.tensors {
        precondition(file.info(t.name) == t)
        let verified: Bool
        do { try file.verify(t); verified = true } catch { verified = false; _ = error.description }
        decode(file, t, verified: verified)
    }
    let failures = file.verifyAll()
    for (t, e) in failures { _ = t.name.utf8.count + e.description.utf8.count }
}

/// Decodes one tensor through the public API and checks the view against its directory entry.
private func decode(_ file: QStarFile, _ t: TensorInfo, verified: Bool) {
    let view: TensorView
    do {
        view = try file.tensor(t.name)
    } catch {
        // A raw tensor of a known dtype is always viewable (its checksum is not checked on view).
        precondition(!(t.encoding == .raw && t.dtype != nil), "raw tensor '\(t.name)' not viewable: \(error)")
        // A zstd tensor that verifies also decodes: verify() decodes it.
        precondition(!(verified && t.encoding == .zstd && t.dtype != nil), "verified but not decodable: \(error)")
        _ = error.description
        return
    }
    precondition(view.info == t)
    precondition(UInt64(view.bytes.count) == t.logicalByteCount)
    precondition(view.shape.map { UInt64($0) } == t.shape)
    precondition(UInt64(view.elementCount) == t.elementCount)
    if view.dtype.isFloatingPoint {
        // Cap the work per input: huge (but valid) tensors only decode their first block.
        let n = view.dtype == .q8_0 ? min(view.elementCount, 4096) / 32 * 32 : min(view.elementCount, 4096)
        if view.elementCount <= 1 << 16 {
            let all = try! view.toFloat32()
            precondition(all.count == view.elementCount)
            if n > 0 {
                var part = [Float](repeating: 0, count: n)
                part.withUnsafeMutableBufferPointer { p in try! view.decodeFloat32(elements: 0..<n, into: p) }
                // Same decoder, same bits (NaN payloads included).
                precondition(zip(part, all).allSatisfy { $0.bitPattern == $1.bitPattern })
            }
        } else if n > 0 {
            var part = [Float](repeating: 0, count: n)
            part.withUnsafeMutableBufferPointer { p in try! view.decodeFloat32(elements: 0..<n, into: p) }
        }
    } else {
        // Integer tensors: every byte must be readable, and a copy must equal the view.
        let sum = view.withUnsafeBytes { b in b.reduce(UInt64(0)) { $0 &+ UInt64($1) } }
        let copy = view.copyBytes()
        precondition(copy.count == view.bytes.count && copy.reduce(UInt64(0)) { $0 &+ UInt64($1) } == sum)
        precondition((try? view.toFloat32()) == nil, "integer dtype converted to Float")
    }
}

/// Touches every metadata value through every typed accessor; each must return or throw a
/// `.metadata` error, never trap.
private func readMetadata(_ m: Metadata) {
    precondition(m.keys.count == m.count && Set(m.keys).count == m.count)
    for (key, value) in m.entries {
        precondition(m[key].map { identical($0, value) } == true && m.contains(key))
        _ = value.description.utf8.count + value.typeName.utf8.count
        _ = try? m.bool(key)
        _ = try? m.uint(key)
        _ = try? m.int(key)
        _ = try? m.float(key)
        _ = try? m.string(key)
        _ = try? m.boolArray(key)
        _ = try? m.uintArray(key)
        _ = try? m.intArray(key)
        _ = try? m.floatArray(key)
        _ = try? m.stringArray(key)
    }
    _ = m.description.utf8.count
}

/// Recomputes every checksum in `bytes` (spec layout: header bytes 40 and 56; each directory
/// entry's xxh64 after its offset and stored_length). Returns false when the header is too
/// broken to locate the index. Tensor checksums can be patched only once the directory parses,
/// so the index is resealed first, validated, then patched and resealed again.
private func reseal(_ bytes: inout [UInt8]) -> Bool {
    guard bytes.count >= 64 else { return false }
    func u64(_ at: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    }
    func put(_ v: UInt64, _ at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { bytes[at + i] = $0[i] } }
    }
    func sealHeader() -> Bool {
        let start = u64(24), length = u64(32)
        let (end, overflow) = start.addingReportingOverflow(length)
        guard !overflow, start <= UInt64(bytes.count), end <= UInt64(bytes.count) else { return false }
        put(XXH64.hash(Array(bytes[Int(start)..<Int(end)])), 40)
        put(XXH64.hash(Array(bytes[0..<56])), 56)
        return true
    }
    guard sealHeader() else {
        // Still fix the header checksum: the length checks behind it are worth reaching.
        put(XXH64.hash(Array(bytes[0..<56])), 56)
        return true
    }
    guard let parsed = validated(bytes) else { return true }
    var changed = false
    for t in parsed.tensors {
        let stored = XXH64.hash(Array(bytes[Int(t.offset)..<Int(t.offset + t.storedLength)]))
        if stored == t.checksum { continue }
        // name length, name, dtype, encoding, rank, dims, offset, stored_length, then xxh64.
        let at = Int(t.entryOffset) + 8 + t.name.utf8.count + 12 + 8 * t.shape.count + 16
        precondition(u64(at) == t.checksum, "directory entry layout disagrees with the reader")
        put(stored, at)
        changed = true
    }
    if changed {
        precondition(sealHeader())
        // Only checksums changed: the file must still validate, to the same directory.
        guard let again = validated(bytes) else { fatalError("resealing checksums made a valid file invalid") }
        precondition(again.tensors.map(\.name) == parsed.tensors.map(\.name) && identical(again.metadata, parsed.metadata))
    }
    return true
}

/// Metadata equality by bits: `==` follows IEEE rules, so a NaN value is never equal to itself.
private func identical(_ a: Metadata, _ b: Metadata) -> Bool {
    a.count == b.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && identical($0.value, $1.value) }
}

private func identical(_ a: MetadataValue, _ b: MetadataValue) -> Bool {
    switch (a, b) {
    case let (.float(x), .float(y)): return x.bitPattern == y.bitPattern
    case let (.floatArray(x), .floatArray(y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
    default: return a == b
    }
}

private func validated(_ bytes: [UInt8]) -> (version: FormatVersion, metadata: Metadata, tensors: [TensorInfo])? {
    bytes.withUnsafeBytes { b in try? QStarFile.validate(bytes: b, name: "reseal") }
}

private func writeScratch(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n <= 0 { return false }
        done += n
    }
    return true
}
