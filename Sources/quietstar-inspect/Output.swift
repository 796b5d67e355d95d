#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered stdout. A failed write (closed pipe, full disk) surfaces as `WriteError`, which the
/// command turns into exit status 74, instead of a silent SIGPIPE death or lost output.
final class Output {
    struct WriteError: Error { var message: String }

    private var buffer: [UInt8] = []
    private let capacity = 1 << 16

    init() {
        buffer.reserveCapacity(capacity)
        signal(SIGPIPE, SIG_IGN)
    }

    func write(_ text: String) throws(WriteError) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= capacity { try flush() }
    }

    func line(_ text: String) throws(WriteError) {
        try write(text)
        try write("\n")
    }

    func flush() throws(WriteError) {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let why = String(cString: strerror(errno))
                buffer.removeAll()
                throw WriteError(message: "writing to stdout failed: \(why)")
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
