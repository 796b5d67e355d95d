import Foundation
import Testing
@testable import QuietStarFormat

/// Test helpers: temporary directories, fixture paths, file bytes.
enum TestSupport {
    /// Symlinks resolved, so a scratch package that links this folder still finds the fixtures.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func fixture(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("fixtures/format").appendingPathComponent(relative).path
    }

    /// A fresh directory under the system temp dir, removed by the caller's `defer`.
    static func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("qstar-tests-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func read(_ path: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path) ?? Data())
    }

    static func write(_ bytes: [UInt8], to path: String) {
        precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
    }

    /// Runs the in-memory validator on `bytes`.
    static func validate(_ bytes: [UInt8], name: String = "test.qstar") throws(QStarError)
        -> (version: FormatVersion, metadata: Metadata, tensors: [TensorInfo])
    {
        let r: Result<(version: FormatVersion, metadata: Metadata, tensors: [TensorInfo]), QStarError> =
            bytes.withUnsafeBytes { b in Result { () throws(QStarError) in try QStarFile.validate(bytes: b, name: name) } }
        return try r.get()
    }

    /// The error `validate` throws, or nil when the bytes are accepted.
    static func rejection(_ bytes: [UInt8]) -> QStarError? {
        do {
            _ = try validate(bytes)
            return nil
        } catch {
            return error
        }
    }
}

/// Little-endian helpers for building and patching files by hand.
extension Array where Element == UInt8 {
    mutating func putU64(_ v: UInt64, at i: Int) {
        for k in 0..<8 { self[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
    }
    mutating func putU32(_ v: UInt32, at i: Int) {
        for k in 0..<4 { self[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
    }
    mutating func putU16(_ v: UInt16, at i: Int) {
        for k in 0..<2 { self[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt16(k))) }
    }
    func u64(at i: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(self[i + $1]) << (8 * UInt64($1)) } }
    func u32(at i: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(self[i + $1]) << (8 * UInt32($1)) } }
}
