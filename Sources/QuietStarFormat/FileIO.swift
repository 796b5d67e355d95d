#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin, error-checked POSIX I/O used by `AtomicOutputFile` and by metadata replacement.
enum FileIO {
    static func fail(_ what: String, _ path: String) -> QStarError {
        QStarError(.io, path: path, "\(what): \(errnoDescription(errno))")
    }

    /// write(2) until everything is written (short writes and EINTR are normal).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(QStarError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write failed", path)
            }
            p += n
            left -= n
        }
    }

    /// pwrite(2) until everything is written at `offset`.
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64,
                          path: String) throws(QStarError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        var at = off_t(offset)
        while left > 0 {
            let n = pwrite(fd, p, left, at)
            if n < 0 {
                if errno == EINTR { continue }
                throw fail("write at byte \(at) failed", path)
            }
            p += n
            left -= n
            at += off_t(n)
        }
    }

    static func sync(_ fd: Int32, path: String) throws(QStarError) {
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw fail("fsync failed", path)
        }
    }

    static func fileSize(_ fd: Int32, path: String) throws(QStarError) -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw fail("cannot stat", path) }
        return UInt64(st.st_size)
    }
}
