#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns a read-only memory mapping of a whole file; unmaps it when the last reference goes.
///
/// Foundation's `Data(contentsOf:options:.mappedIfSafe)` reads the whole file into memory on
/// Linux, which would make opening a checkpoint cost its size; this maps it with mmap(2).
final class MappedFile: @unchecked Sendable {
    let base: UnsafeRawPointer?
    let count: Int

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    init(path: String) throws(QStarError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw QStarError(.io, path: path, "cannot open: \(errnoDescription(errno))")
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            throw QStarError(.io, path: path, "cannot stat: \(errnoDescription(errno))")
        }
        if (st.st_mode & S_IFMT) != S_IFREG {
            throw QStarError(.io, path: path, "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = nil  // mmap of 0 bytes fails; an empty buffer is validated (and rejected) as such
            return
        }
        // MAP_PRIVATE + PROT_READ: we never write, and nothing is read until a tensor is used.
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw QStarError(.io, path: path, "cannot mmap \(count) bytes: \(errnoDescription(errno))")
        }
        base = UnsafeRawPointer(p!)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
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
