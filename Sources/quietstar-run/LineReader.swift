import Foundation

/// Reads newline-separated lines from a sequence of files (or stdin) in fixed-size chunks, so an
/// input of any size streams through bounded memory.
///
/// Lines are split on `\n` only (a `\r` before it stays part of the line); a last line without a
/// trailing newline still counts; nothing follows the final newline. A line longer than
/// `maxLineBytes` is not kept: it comes back as `.tooLong` and reading resumes after it.
final class LineReader {
    enum Line {
        case bytes([UInt8])
        case tooLong(Int)
    }

    struct ReadError: Error, CustomStringConvertible {
        var path: String
        var message: String
        var description: String { "\(path): \(message)" }
    }

    private let paths: [String]   // "-" is stdin
    private var fileIndex = 0
    private var fd: Int32 = -1
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var chunkStart = 0, chunkEnd = 0
    private var current: [UInt8] = []
    private var currentLength = 0   // bytes of the current line, counting dropped ones
    let maxLineBytes: Int

    init(paths: [String], maxLineBytes: Int = 16 << 20) {
        self.paths = paths.isEmpty ? ["-"] : paths
        self.maxLineBytes = maxLineBytes
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Names of inputs that cannot be opened for reading (checked before any work starts).
    static func unreadable(_ paths: [String]) -> [String] {
        paths.filter { $0 != "-" && access($0, R_OK) != 0 }
    }

    /// The next line, nil at the end of the last input.
    func next() throws(ReadError) -> Line? {
        while true {
            if chunkStart == chunkEnd {
                if try !refill() {
                    // End of all inputs: a pending unterminated line is the last one.
                    if currentLength > 0 { return takeLine() }
                    return nil
                }
            }
            let found: Int? = chunk.withUnsafeBufferPointer { buf -> Int? in
                guard let base = buf.baseAddress, chunkEnd > chunkStart,
                      let hit = memchr(base + chunkStart, 0x0A, chunkEnd - chunkStart) else { return nil }
                return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
            }
            let end = found ?? chunkEnd
            let piece = end - chunkStart
            if currentLength + piece <= maxLineBytes {
                current.append(contentsOf: chunk[chunkStart..<end])
            } else if !current.isEmpty {
                current.removeAll()   // past the limit: drop what was kept, keep counting
            }
            currentLength += piece
            chunkStart = found.map { $0 + 1 } ?? chunkEnd
            if found != nil { return takeLine() }
        }
    }

    private func takeLine() -> Line {
        defer {
            current.removeAll(keepingCapacity: current.count <= 1 << 16)
            currentLength = 0
        }
        return currentLength > maxLineBytes ? .tooLong(currentLength) : .bytes(current)
    }

    /// Reads the next chunk, moving on to the next input at end of file; false when all are done.
    /// Lines do not continue across files: a file's unterminated last line ends with the file.
    private func refill() throws(ReadError) -> Bool {
        while true {
            if fd < 0 {
                guard fileIndex < paths.count else { return false }
                let path = paths[fileIndex]
                fd = path == "-" ? dup(STDIN_FILENO) : open(path, O_RDONLY)
                if fd < 0 { throw ReadError(path: path, message: String(cString: strerror(errno))) }
            }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                chunkStart = 0
                chunkEnd = n
                return true
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: paths[fileIndex], message: "read failed: \(String(cString: strerror(errno)))")
            }
            close(fd)
            fd = -1
            fileIndex += 1
            if currentLength > 0 {
                // The file ended without a newline: its last line is complete.
                return finishFileLine()
            }
        }
    }

    /// Marks the pending line as complete by injecting a virtual newline.
    private func finishFileLine() -> Bool {
        chunk[0] = 0x0A
        chunkStart = 0
        chunkEnd = 1
        return true
    }
}
