#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns a read-only memory mapping of a whole file; unmaps it when the last reference goes.
///
/// Foundation's `Data(contentsOf:options:.mappedIfSafe)` reads the whole file into memory on
/// Linux, which would make opening a checkpoint cost its size and a model larger than RAM
/// impossible; this maps it with mmap(2). Pages are file-backed and clean: nothing is read until
/// touched, the kernel can drop them at any time, and `release(_:)` tells it we are done with a
/// range, so a conversion's resident set stays near one tensor instead of the whole input.
///
/// As with any mmap reader, a file truncated by another process while mapped faults (SIGBUS) on
/// access to the missing pages; the writers here never do that (`AtomicOutputFile` renames a new
/// file into place).
public final class MappedFile: @unchecked Sendable {
    /// Why a file could not be mapped. Callers decide what kind of failure that is for them (a
    /// missing input, an I/O error), so the reason and the errno are kept apart from the text.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public enum Reason: Sendable, Equatable {
            case cannotOpen, cannotStat, notRegularFile, cannotMap
        }
        public let path: String
        public let reason: Reason
        /// The errno of the failed call (0 for `notRegularFile`).
        public let code: Int32
        /// `cannot open: No such file or directory (errno 2)`
        public let message: String

        public var description: String { "\(path): \(message)" }
    }

    public let path: String
    /// The whole file. Empty (and not backed by a mapping) for a zero-length file.
    public let bytes: UnsafeRawBufferPointer

    /// Opens and maps `path` (a regular file).
    public init(path: String) throws(Failure) {
        func fail(_ reason: Failure.Reason, _ code: Int32, _ message: String) -> Failure {
            Failure(path: path, reason: reason, code: code, message: message)
        }
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw fail(.cannotOpen, code, "cannot open: \(errnoDescription(code))")
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let code = errno
            throw fail(.cannotStat, code, "cannot stat: \(errnoDescription(code))")
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw fail(.notRegularFile, 0, "not a regular file")
        }
        let count = Int(st.st_size)
        if count == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)  // mmap of 0 bytes fails
            return
        }
        // MAP_PRIVATE + PROT_READ: we never write, and nothing is read until a page is touched.
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            let code = errno
            throw fail(.cannotMap, code, "cannot mmap \(count) bytes: \(errnoDescription(code))")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: count)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// Access patterns the kernel can plan read-ahead for (madvise(2)).
    public enum Advice: Sendable {
        /// The default read-ahead.
        case normal
        /// Read front to back once: read ahead aggressively.
        case sequential
        /// Scattered reads: do not read ahead.
        case random
        /// About to be read: start reading it in now.
        case willNeed
    }

    /// Advises the kernel about the pages overlapping `range` (byte offsets in the file). Only a
    /// hint: reads stay correct whatever it does, and a failure is ignored.
    public func advise(_ advice: Advice, _ range: Range<Int>) {
        guard let pages = pages(overlapping: range, whole: false) else { return }
        let flag: Int32
        switch advice {
        case .normal: flag = MADV_NORMAL
        case .sequential: flag = MADV_SEQUENTIAL
        case .random: flag = MADV_RANDOM
        case .willNeed: flag = MADV_WILLNEED
        }
        _ = madvise(pages.start, pages.count, flag)
    }

    /// Drops the pages inside `range` (byte offsets in the file) from this process's resident
    /// set. They stay in the page cache and reading them again just maps them back: the mapping
    /// is read-only and file-backed, so MADV_DONTNEED loses nothing (on anonymous memory it would
    /// zero them, which is why this is a method of the mapping and not a function on pointers).
    /// Only whole pages strictly inside `range` go: a neighbour's bytes may still be in use.
    public func release(_ range: Range<Int>) {
        guard let pages = pages(overlapping: range, whole: true) else { return }
        _ = madvise(pages.start, pages.count, MADV_DONTNEED)
    }

    /// The page-aligned span of `range` clamped to the file: the whole pages inside it
    /// (`whole`), or every page it touches.
    private func pages(overlapping range: Range<Int>, whole: Bool) -> (start: UnsafeMutableRawPointer, count: Int)? {
        let range = range.clamped(to: 0..<bytes.count)
        guard let base = bytes.baseAddress, !range.isEmpty else { return nil }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let from = UInt(bitPattern: base + range.lowerBound), to = UInt(bitPattern: base + range.upperBound)
        let first = whole ? (from + page - 1) / page * page : from / page * page
        let end = whole ? to / page * page : (to + page - 1) / page * page
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return nil }
        return (p, Int(end - first))
    }
}

/// Owns a malloc'd buffer (a decoded zstd tensor). malloc, not Swift's allocator, so a failed
/// allocation is an error instead of a trap.
final class OwnedBuffer: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) throws(QStarError) {
        guard let p = malloc(max(count, 1)) else {
            throw QStarError(.io, "cannot allocate \(count) bytes")
        }
        base = p
        self.count = count
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    var mutableBytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: count) }

    deinit { free(base) }
}
