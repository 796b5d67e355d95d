import Foundation
import QuietStarEngine
import QuietStarJSON
import QuietStarModel

/// What travels with each line to its output record.
struct LineTag {
    /// The JSONL `id` as read (numbers keep their text); nil for text input or when absent.
    var id: JSONValue?
}

/// Lines read ahead by a background thread, so the engine can ask whether input is waiting
/// without blocking on a pipe. Bounded (lines and bytes), so a fast producer cannot fill memory.
final class LineQueue: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var lines: [LineReader.Line] = []
    private var head = 0
    private var bytes = 0
    private var finished = false
    private var readError: LineReader.ReadError?

    static let maxLines = 1024
    static let maxBytes = 8 << 20

    init(reader: LineReader) {
        let box = ReaderBox(reader)
        Thread.detachNewThread { [self] in pump(box.reader) }
    }

    /// The background thread: reads lines until the end, waiting while the queue is full.
    private func pump(_ reader: LineReader) {
        while true {
            let line: LineReader.Line?
            var failure: LineReader.ReadError?
            do { line = try reader.next() } catch { line = nil; failure = error }
            condition.lock()
            guard let line else {
                finished = true
                readError = failure
                condition.broadcast()
                condition.unlock()
                return
            }
            while lines.count - head >= Self.maxLines || (bytes >= Self.maxBytes && lines.count > head) {
                condition.wait()
            }
            lines.append(line)
            bytes += Self.size(line)
            condition.broadcast()
            condition.unlock()
        }
    }

    private static func size(_ line: LineReader.Line) -> Int {
        if case .bytes(let b) = line { return b.count }
        return 0
    }

    /// The next line, waiting for it if needed; nil at the end of input.
    func next() -> LineReader.Line? {
        condition.lock()
        defer { condition.unlock() }
        while head == lines.count && !finished { condition.wait() }
        guard head < lines.count else { return nil }
        let line = lines[head]
        head += 1
        bytes -= Self.size(line)
        if head > 4096 && head * 2 > lines.count {   // compact now and then
            lines.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return line
    }

    /// Whether `next()` would return at once; `drop` discards leading lines it says to skip
    /// (other shards' lines), so readiness means a line this process will actually use.
    func isReady(dropping drop: () -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while head < lines.count && drop() {
            bytes -= Self.size(lines[head])
            head += 1
            condition.broadcast()
        }
        return head < lines.count || finished
    }

    var error: LineReader.ReadError? {
        condition.lock()
        defer { condition.unlock() }
        return readError
    }

    /// Hands the reader to the background thread (it is used there only).
    private struct ReaderBox: @unchecked Sendable {
        let reader: LineReader
        init(_ reader: LineReader) { self.reader = reader }
    }
}

/// Turns the input stream into the library's line requests: keeps only this shard's lines,
/// decodes UTF-8 (text) or the JSON object (jsonl). Unusable lines become failures with their
/// place in the output kept. A read error ends the input and is reported by `readError`.
final class InputLines: IteratorProtocol {
    private let queue: LineQueue
    private let format: InputFormat
    private let textKeys: [String]
    private let shard: Shard
    private let maxLineBytes: Int
    /// Index (0-based, whole input) of the next line the queue hands out.
    private var index = 0
    /// This shard's lines still to pass over unread: those a resumed run already answered.
    private var toSkip: Int

    init(reader: LineReader, format: InputFormat, textKeys: [String], shard: Shard?, skip: Int = 0) {
        toSkip = skip
        maxLineBytes = reader.maxLineBytes
        queue = LineQueue(reader: reader)
        self.format = format
        self.textKeys = textKeys
        self.shard = shard ?? Shard(argument: "0/1")!
    }

    var readError: LineReader.ReadError? { queue.error }

    private func inShard(_ i: Int) -> Bool { i % shard.count == shard.index }

    /// Whether line `i` is this process's to answer; a line passed over is counted once (the
    /// caller moves on after a false).
    private func wanted(_ i: Int) -> Bool {
        guard inShard(i) else { return false }
        if toSkip > 0 {
            toSkip -= 1
            return false
        }
        return true
    }

    /// Whether a line of this shard (or the end of input) is waiting.
    var isReady: Bool {
        queue.isReady(dropping: {
            guard !wanted(index) else { return false }
            index += 1
            return true
        })
    }

    func next() -> LineRequest<LineTag>? {
        while true {
            guard let line = queue.next() else { return nil }
            let i = index
            index += 1
            guard wanted(i) else { continue }
            switch line {
            case .tooLong(let n):
                return LineRequest(line: i, tag: LineTag(id: nil),
                                   text: .failure(LineError("line of \(n) bytes is longer than the \(maxLineBytes >> 20) MiB limit")))
            case .bytes(let bytes):
                switch format {
                case .text:
                    return LineRequest(line: i, tag: LineTag(id: nil), text: JSONLines.utf8(bytes).mapError { LineError($0.message) })
                case .jsonl:
                    let (id, text) = JSONLines.parseObject(bytes, keys: textKeys)
                    return LineRequest(line: i, tag: LineTag(id: id), text: text.mapError { LineError($0.message) })
                }
            }
        }
    }
}
