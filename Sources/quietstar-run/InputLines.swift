import QuietStarModel

/// What travels with each line to its output record.
struct LineTag {
    /// The JSONL `id`, re-serialised; nil for text input or when absent.
    var id: String?
}

/// Turns the input stream into the library's line requests: reads lines lazily, keeps only this
/// shard's, decodes UTF-8 (text) or the JSON object (jsonl). Unusable lines become failures with
/// their place in the output kept. A read error ends the input and is kept in `readError`.
final class InputLines: IteratorProtocol {
    private let reader: LineReader
    private let format: InputFormat
    private let textKeys: [String]
    private let shard: Shard
    private var index = 0
    private(set) var readError: LineReader.ReadError?

    init(reader: LineReader, format: InputFormat, textKeys: [String], shard: Shard?) {
        self.reader = reader
        self.format = format
        self.textKeys = textKeys
        self.shard = shard ?? Shard(argument: "0/1")!
    }

    func next() -> LineRequest<LineTag>? {
        while true {
            let line: LineReader.Line
            do {
                guard let l = try reader.next() else { return nil }
                line = l
            } catch {
                readError = error
                return nil
            }
            let i = index
            index += 1
            guard i % shard.count == shard.index else { continue }
            switch line {
            case .tooLong(let n):
                return LineRequest(line: i, tag: LineTag(id: nil),
                                   text: .failure(LineError("line of \(n) bytes is longer than the \(reader.maxLineBytes >> 20) MiB limit")))
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
