import Foundation
import QuietStarJSON
import QuietStarTokenizer

/// Where the data loader stands: epoch, file index, the byte offset of the record (document or
/// JSONL line) it is in, and how many of that record's tokens it has consumed. Saved in training
/// checkpoints (`train.data_position`, four u64) so a resumed run reads exactly what the
/// uninterrupted run would have read next.
public struct DataPosition: Sendable, Equatable {
    public var epoch: UInt64 = 0
    public var file = 0
    public var offset: UInt64 = 0
    public var token = 0

    public init(epoch: UInt64 = 0, file: Int = 0, offset: UInt64 = 0, token: Int = 0) {
        self.epoch = epoch
        self.file = file
        self.offset = offset
        self.token = token
    }

    public var words: [UInt64] { [epoch, UInt64(file), offset, UInt64(token)] }

    public init?(words: [UInt64]) {
        guard words.count == 4, words[1] <= UInt64(Int.max), words[3] <= UInt64(Int.max) else { return nil }
        self.init(epoch: words[0], file: Int(words[1]), offset: words[2], token: Int(words[3]))
    }
}

/// How records become training sequences.
///
/// - `.text(delimiter:)`: each file is a stream of documents separated by `delimiter` (empty
///   documents are skipped). A document becomes `BOS + tokens + EOS` (each when the tokenizer has
///   one). Documents are concatenated and cut into windows of exactly `contextLength` tokens; a
///   window holds the pieces of one or more documents, and each piece is its own sequence
///   (positions from 0, attending only within itself), so no target crosses a document boundary.
///   Every next-token target inside a piece counts (a document cut between two windows loses the
///   one target across the cut).
/// - `.completions`: each line of a JSONL file is `{"prompt": ..., "completion": ...}`; the
///   sequence is `BOS + tokens(prompt) + tokens(completion) + EOS`, one example per sequence, and
///   the loss counts only the targets that predict completion tokens and the EOS (never the
///   prompt). An example longer than the context is cut at the context length.
public enum DataFormat: Sendable, Equatable {
    case text(delimiter: [UInt8])
    case completions
}

/// Reads training sequences from files, streaming (one record in memory at a time), in file order,
/// cycling through the files epoch after epoch. Deterministic: the same files, tokenizer and
/// position give the same sequences.
public final class TrainingData {
    public let files: [String]
    public let format: DataFormat
    public let tokenizer: Tokenizer
    public let contextLength: Int
    public private(set) var position: DataPosition
    /// Longest record accepted (a file without delimiters is not read into memory whole).
    public static let maxRecordBytes = 64 << 20

    private var reader: RecordReader?
    /// The record `position` points into, tokenized, when one is open.
    private var record: (tokens: [Int32], firstTarget: Int, end: UInt64)?

    public init(files: [String], format: DataFormat, tokenizer: Tokenizer, contextLength: Int,
                position: DataPosition = DataPosition()) throws(TrainingError) {
        guard !files.isEmpty else { throw TrainingError("no training data files given") }
        guard contextLength >= 2 else { throw TrainingError("the context length must be at least 2 tokens") }
        for f in files where !FileManager.default.isReadableFile(atPath: f) {
            throw TrainingError("\(f): cannot read this data file", kind: .missingInput)
        }
        guard position.file < files.count else {
            throw TrainingError("data position names file \(position.file), but only \(files.count) data files are given")
        }
        self.files = files
        self.format = format
        self.tokenizer = tokenizer
        self.contextLength = contextLength
        self.position = position
    }

    /// The next `count` sequences: `count` windows of text, or `count` examples.
    public func next(_ count: Int) throws(TrainingError) -> [TrainingSequence] {
        var out: [TrainingSequence] = []
        switch format {
        case .text:
            for _ in 0..<count { out += try nextWindow() }
        case .completions:
            for _ in 0..<count {
                let r = try currentRecord()
                out.append(TrainingSequence(tokens: r.tokens, firstTarget: r.firstTarget))
                advanceRecord(end: r.end)
            }
        }
        return out
    }

    /// `contextLength` tokens of the document stream, split at document boundaries.
    private func nextWindow() throws(TrainingError) -> [TrainingSequence] {
        var pieces: [TrainingSequence] = []
        var filled = 0
        while filled < contextLength {
            let r = try currentRecord()
            let take = min(contextLength - filled, r.tokens.count - position.token)
            pieces.append(TrainingSequence(tokens: Array(r.tokens[position.token..<(position.token + take)])))
            filled += take
            position.token += take
            if position.token == r.tokens.count { advanceRecord(end: r.end) }
        }
        return pieces
    }

    private func advanceRecord(end: UInt64) {
        record = nil
        position.offset = end
        position.token = 0
    }

    /// The tokenized record at `position`, reading the next non-empty one (and moving to the
    /// next file or epoch) as needed.
    private func currentRecord() throws(TrainingError) -> (tokens: [Int32], firstTarget: Int, end: UInt64) {
        if let record { return record }
        // File ends passed without a usable record. The search may start inside a file, so only
        // after files.count + 1 of them has every file been read from its start: a data set of
        // empty files, blank documents or blank lines is refused then, instead of cycling
        // through epochs forever.
        var fileEnds = 0
        while true {
            if reader == nil || reader!.path != files[position.file] {
                reader = try RecordReader(path: files[position.file], delimiter: recordDelimiter)
            }
            guard let (bytes, end) = try reader!.record(at: position.offset, limit: Self.maxRecordBytes) else {
                // End of this file: the next file, or the next epoch.
                fileEnds += 1
                position.file += 1
                if position.file == files.count {
                    position.file = 0
                    position.epoch += 1
                }
                position.offset = 0
                position.token = 0
                if fileEnds > files.count {
                    throw TrainingError("the data files hold no records (only empty documents or blank lines): nothing to train on")
                }
                continue
            }
            let where_ = "\(files[position.file]) (record at byte \(position.offset))"
            guard let tokenized = try tokenize(bytes, where_) else {
                position.offset = end
                position.token = 0
                continue
            }
            guard position.token < tokenized.tokens.count else {
                throw TrainingError("data position token \(position.token) is past the end of \(where_): the data changed since the checkpoint")
            }
            record = (tokenized.tokens, tokenized.firstTarget, end)
            return record!
        }
    }

    private var recordDelimiter: [UInt8] {
        switch format {
        case .text(let d): d
        case .completions: [0x0A]
        }
    }

    /// nil for a record to skip (empty or blank).
    private func tokenize(_ bytes: [UInt8], _ where_: String) throws(TrainingError) -> (tokens: [Int32], firstTarget: Int)? {
        let bos = tokenizer.bosTokenId.map { [$0] } ?? []
        let eos = tokenizer.eosTokenIds.first.map { [$0] } ?? []
        switch format {
        case .text:
            if bytes.isEmpty { return nil }
            let text = String(decoding: bytes, as: UTF8.self)
            return (bos + tokenizer.encode(text, addSpecialTokens: false) + eos, 0)
        case .completions:
            var line = bytes[...]
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return nil }
            let value: JSONValue
            do { value = try JSONReader.parse(Array(line)) } catch {
                throw TrainingError("\(where_): not a JSON object: \(error)")
            }
            guard let prompt = value["prompt"]?.stringValue, let completion = value["completion"]?.stringValue else {
                throw TrainingError("\(where_): expected an object with string members \"prompt\" and \"completion\"")
            }
            let head = bos + tokenizer.encode(prompt, addSpecialTokens: false)
            let tail = tokenizer.encode(completion, addSpecialTokens: false) + eos
            guard !head.isEmpty, head.count < contextLength else {
                throw TrainingError("\(where_): the prompt is \(head.count) tokens, it must be between 1 and \(contextLength - 1) (the context length less one)")
            }
            let tokens = Array((head + tail).prefix(contextLength))
            return (tokens, head.count - 1)
        }
    }
}

/// Reads delimited records from a file at given byte offsets, with a read buffer, never holding
/// more than one record (at most `limit` bytes).
final class RecordReader {
    let path: String
    let delimiter: [UInt8]
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var bufferStart: UInt64 = 0
    private var atEnd = false

    init(path: String, delimiter: [UInt8]) throws(TrainingError) {
        guard !delimiter.isEmpty else { throw TrainingError("the document delimiter must not be empty") }
        guard let h = FileHandle(forReadingAtPath: path) else { throw TrainingError("\(path): cannot open this data file", kind: .missingInput) }
        self.path = path
        self.delimiter = delimiter
        handle = h
    }

    deinit { try? handle.close() }

    /// The record starting at `offset` (without its delimiter) and the offset after its delimiter;
    /// nil at the end of the file.
    func record(at offset: UInt64, limit: Int) throws(TrainingError) -> ([UInt8], UInt64)? {
        if offset < bufferStart || offset > bufferStart + UInt64(buffer.count) {
            do { try handle.seek(toOffset: offset) } catch { throw TrainingError("\(path): cannot seek to byte \(offset): \(error)") }
            buffer.removeAll(keepingCapacity: true)
            bufferStart = offset
            atEnd = false
        }
        var local = Int(offset - bufferStart)
        var searchFrom = local
        while true {
            if let i = find(from: searchFrom) {
                return (Array(buffer[local..<i]), offset + UInt64(i - local + delimiter.count))
            }
            if atEnd {
                if local == buffer.count { return nil }
                return (Array(buffer[local...]), offset + UInt64(buffer.count - local))
            }
            guard buffer.count - local <= limit else {
                throw TrainingError("\(path): the record at byte \(offset) is longer than \(limit >> 20) MiB; is the delimiter right?")
            }
            // Drop what was consumed before reading more (once per refill, not per record).
            if local > 0 {
                buffer.removeFirst(local)
                bufferStart += UInt64(local)
                searchFrom -= local
                local = 0
            }
            searchFrom = max(0, buffer.count - delimiter.count + 1)
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw TrainingError("\(path): read failed at byte \(bufferStart + UInt64(buffer.count)): \(error)")
            }
            if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    /// The first delimiter at or after `start` in the buffer. `memchr` finds each candidate
    /// first byte, so passing over long records costs a memory scan, not a loop per byte.
    private func find(from start: Int) -> Int? {
        let n = delimiter.count
        guard buffer.count >= n, start + n <= buffer.count else { return nil }
        let first = delimiter[0]
        return buffer.withUnsafeBufferPointer { buf -> Int? in
            let base = buf.baseAddress!
            var i = start
            while i + n <= buf.count {
                guard let hit = memchr(base + i, Int32(first), buf.count - n + 1 - i) else { return nil }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                var match = true
                for j in 1..<n where buf[at + j] != delimiter[j] { match = false; break }
                if match { return at }
                i = at + 1
            }
            return nil
        }
    }
}
