#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that appears at its destination complete or not at all: bytes go to a temporary file
/// in the same directory, and `commit` fsyncs it, renames it over the destination and fsyncs
/// the directory. Writing over a file that someone has memory-mapped would corrupt their view
/// (safetensors once zeroed files that way); a rename leaves their mapping intact.
///
/// Writes are buffered (1 MiB) so streaming a tensor in small chunks costs few system calls.
final class AtomicFile {
    let destination: String
    let temporaryPath: String
    private var fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private(set) var bytesWritten: UInt64 = 0
    private var done = false

    static let bufferSize = 1 << 20

    init(destination: String) throws(InteropError) {
        self.destination = destination
        // Random suffix: two converters writing next to each other must not share a temp file.
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        temporaryPath = destination + ".tmp-\(getpid())-\(suffix)"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw InteropError(.cannotCreateOutput, path: destination,
                               "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        buffer = .allocate(byteCount: Self.bufferSize, alignment: 64)
    }

    deinit {
        abort()
        buffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(InteropError) {
        guard !done else { throw InteropError(.internal, path: destination, "write after commit or abort") }
        var rest = bytes
        while !rest.isEmpty {
            if buffered == 0 && rest.count >= Self.bufferSize {
                try writeAll(rest)  // large write: skip the copy
                bytesWritten += UInt64(rest.count)
                return
            }
            let n = min(rest.count, Self.bufferSize - buffered)
            (buffer.baseAddress! + buffered).copyMemory(from: rest.baseAddress!, byteCount: n)
            buffered += n
            bytesWritten += UInt64(n)
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            if buffered == Self.bufferSize { try flush() }
        }
    }

    func write(_ bytes: [UInt8]) throws(InteropError) {
        try withBytes(of: bytes) { (raw) throws(InteropError) in try self.write(raw) }
    }

    func write(zeros count: Int) throws(InteropError) {
        let zeros = [UInt8](repeating: 0, count: min(count, 4096))
        var left = count
        while left > 0 {
            let n = min(left, zeros.count)
            try withBytes(of: zeros) { (raw) throws(InteropError) in try self.write(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
            left -= n
        }
    }

    private func flush() throws(InteropError) {
        guard buffered > 0 else { return }
        try writeAll(UnsafeRawBufferPointer(start: buffer.baseAddress, count: buffered))
        buffered = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(InteropError) {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw InteropError(.cannotCreateOutput, path: destination,
                                   "write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Flushes, fsyncs, renames over the destination and fsyncs the directory.
    func commit() throws(InteropError) {
        guard !done else { throw InteropError(.internal, path: destination, "commit twice") }
        try flush()
        guard fsync(fd) == 0 else {
            throw InteropError(.cannotCreateOutput, path: destination, "fsync failed: \(String(cString: strerror(errno)))")
        }
        close(fd)
        fd = -1
        guard rename(temporaryPath, destination) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            done = true
            throw InteropError(.cannotCreateOutput, path: destination, "cannot rename the finished file into place: \(message)")
        }
        done = true
        syncDirectory(of: destination)
    }

    /// Removes the temporary file. Safe to call more than once; a no-op after `commit`.
    func abort() {
        guard !done else { return }
        done = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temporaryPath)
    }
}

/// The C `write`, named apart from `AtomicFile.write` (which would shadow it).
private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// fsyncs the directory holding `path`, so a rename into it survives a power cut.
func syncDirectory(of path: String) {
    let directory = parentDirectory(of: path)
    let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 { _ = fsync(dfd); close(dfd) }
}

/// `a/b/c.qstar` -> `a/b`; `c.qstar` -> `.`; `/c` -> `/`.
func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
}

/// `a/b/c.qstar` -> `c.qstar`; `a/b/` -> `b`.
func baseName(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
    return String(trimmed[trimmed.index(after: slash)...])
}

/// Joins a directory and a file name.
func joinPath(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}
