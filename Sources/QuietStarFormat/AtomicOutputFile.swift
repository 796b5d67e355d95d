#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that appears at its destination complete or not at all.
///
/// Bytes go to `<destination>.tmp-<pid>-<random>` in the same directory (created exclusively,
/// so two writers never share one and nothing is clobbered); `commit` flushes, fsyncs, renames
/// it over the destination and fsyncs the directory. Readers of the destination see the old
/// file or the complete new one, never a partial write, and a file someone has memory-mapped is
/// never overwritten in place (a rename leaves their mapping intact; writing into it would
/// change or truncate what they see). Until `commit`, `abort` or deinit removes the temporary
/// file, so a writer abandoned by an error leaves nothing behind.
///
/// Writes are buffered (1 MiB by default), so streaming in small chunks costs few system calls.
public final class AtomicOutputFile {
    public let destination: String
    public let temporaryPath: String
    /// Bytes written so far (buffered or not): the offset the next byte will have.
    public private(set) var position: UInt64 = 0
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferCapacity: Int
    private var state = State.writing

    private enum State { case writing, committed, aborted }

    /// True once the file has been renamed into place (even if the directory fsync then failed).
    public var isCommitted: Bool { state == .committed }

    /// Creates the temporary file next to `destination`.
    public init(destination: String, bufferCapacity: Int = 1 << 20) throws(QStarError) {
        self.destination = destination
        self.bufferCapacity = max(bufferCapacity, 1)
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        temporaryPath = "\(destination).tmp-\(getpid())-\(suffix)"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw FileIO.fail("cannot create temporary file '\(temporaryPath)'", destination)
        }
        buffer.reserveCapacity(self.bufferCapacity)
    }

    deinit { abort() }

    // MARK: Writing

    /// Appends `bytes`. A failed write aborts the file (what reached the disk is unknown).
    public func write(_ bytes: UnsafeRawBufferPointer) throws(QStarError) {
        try checkWritable()
        position += UInt64(bytes.count)
        if buffer.count + bytes.count > bufferCapacity {
            try flush()
            if bytes.count >= bufferCapacity {
                try abortingOnFailure { () throws(QStarError) in   // large write: skip the copy
                    try FileIO.writeAll(fd, bytes, path: temporaryPath)
                }
                return
            }
        }
        buffer.append(contentsOf: bytes)
    }

    public func write(_ bytes: [UInt8]) throws(QStarError) {
        try withBytes(bytes) { (b) throws(QStarError) in try write(b) }
    }

    public func write(zeros count: Int) throws(QStarError) {
        let zeros = [UInt8](repeating: 0, count: min(count, 1 << 16))
        var left = count
        while left > 0 {
            let n = min(left, zeros.count)
            try withBytes(zeros) { (b) throws(QStarError) in try write(UnsafeRawBufferPointer(rebasing: b[0..<n])) }
            left -= n
        }
    }

    /// Overwrites bytes written earlier (a header whose fields are known only at the end);
    /// `offset + bytes.count` must not pass `position`.
    public func overwrite(at offset: UInt64, with bytes: UnsafeRawBufferPointer) throws(QStarError) {
        try checkWritable()
        let (end, overflow) = offset.addingReportingOverflow(UInt64(bytes.count))
        guard !overflow, end <= position else {
            throw QStarError(.usage, path: destination,
                             "overwrite of [\(offset), \(offset &+ UInt64(bytes.count))) goes past the \(position) bytes written")
        }
        try flush()
        try abortingOnFailure { () throws(QStarError) in try FileIO.pwriteAll(fd, bytes, at: offset, path: temporaryPath) }
    }

    // MARK: Finishing

    /// Flushes, fsyncs and closes the temporary file, runs `check` on it (by path: e.g. open
    /// it with the format's own reader, so no file the reader rejects is ever published), then
    /// renames it over the destination and fsyncs the directory. Any failure before the rename
    /// removes the temporary file; the destination is untouched.
    public func commit(check: (String) throws(QStarError) -> Void = { _ in }) throws(QStarError) {
        try checkWritable()
        do throws(QStarError) {
            try flush()
            try FileIO.sync(fd, path: temporaryPath)
            close(fd)
            fd = -1
            try check(temporaryPath)
            if rename(temporaryPath, destination) != 0 {
                throw FileIO.fail("cannot rename '\(temporaryPath)' to '\(destination)'", destination)
            }
        } catch {
            abort()
            throw error
        }
        state = .committed
        try Self.syncDirectory(of: destination)
    }

    /// Closes and removes the temporary file. Safe to call more than once; a no-op after
    /// `commit`. The file is unusable afterwards.
    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if state == .writing {
            unlink(temporaryPath)
            state = .aborted
        }
    }

    /// fsyncs the directory holding `path`, so that a rename into it survives a power cut.
    public static func syncDirectory(of path: String) throws(QStarError) {
        let directory = Paths.parent(of: path)
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd < 0 { throw FileIO.fail("cannot open directory '\(directory)' to fsync it", path) }
        defer { close(dfd) }
        try FileIO.sync(dfd, path: directory)
    }

    // MARK: Helpers

    private func checkWritable() throws(QStarError) {
        switch state {
        case .writing: return
        case .committed: throw QStarError(.usage, path: destination, "the file has already been committed")
        case .aborted: throw QStarError(.usage, path: destination, "the file was aborted (after a failure or on request)")
        }
    }

    private func flush() throws(QStarError) {
        if buffer.isEmpty { return }
        try abortingOnFailure { () throws(QStarError) in
            try withBytes(buffer) { (b) throws(QStarError) in try FileIO.writeAll(fd, b, path: temporaryPath) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func abortingOnFailure(_ body: () throws(QStarError) -> Void) throws(QStarError) {
        do { try body() } catch {
            abort()
            throw error
        }
    }
}
