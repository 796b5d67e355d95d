#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file, unmapped when the last reference goes away.
///
/// Foundation's `.mappedIfSafe` silently reads the file into memory on Linux; a model larger
/// than RAM must stay mapped, so we call mmap ourselves. Pages are file-backed and clean: the
/// kernel can drop them at any time, and `release(_:)` tells it we are done with a range so a
/// conversion's resident set stays near one tensor, not the whole input.
final class MappedFile: @unchecked Sendable {
    let path: String
    /// The whole file. Empty (and not backed by a mapping) for a zero-length file.
    let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    private let length: Int

    /// Opens and maps `path`. Throws `.missingInput` when it does not exist or cannot be read.
    init(path: String) throws(InteropError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            let kind: InteropError.Kind = (code == ENOENT || code == EACCES || code == ENOTDIR) ? .missingInput : .io
            throw InteropError(kind, path: path, "cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw InteropError(.io, path: path, "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw InteropError(.missingInput, path: path, "not a regular file")
        }
        let size = Int(info.st_size)
        length = size
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw InteropError(.io, path: path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base { munmap(base, length) }
    }

    /// Tells the kernel the pages covering `range` will not be read again soon, so they leave
    /// this process's resident set (they stay in the page cache, and reading them again works).
    func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        releaseMappedPages(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
}

/// `madvise(MADV_DONTNEED)` on the whole pages inside `bytes`, which must lie in a read-only,
/// file-backed mapping: there the pages are simply read again from the file if touched later.
/// (On anonymous memory the same call would zero the pages, so it must never see owned buffers.)
func releaseMappedPages(_ bytes: UnsafeRawBufferPointer) {
    guard let start = bytes.baseAddress, !bytes.isEmpty else { return }
    let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
    let first = (UInt(bitPattern: start) + page - 1) / page * page
    let end = (UInt(bitPattern: start) + UInt(bytes.count)) / page * page
    // Only whole pages strictly inside the range: a neighbour's bytes may still be in use.
    guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
    _ = madvise(p, Int(end - first), MADV_DONTNEED)
}
