import Foundation
import QuietStarJSON
import QuietStarTokenizer
#if !QSTAR_FUZZ
import QuietStarTraining
#endif

// What the trainer's data-reader fuzz target (tools/fuzz/run-fuzz training) does with one input,
// shared by the libFuzzer entry (tools/fuzz/TrainingDataFuzz.swift, compiled into the training
// module with -D QSTAR_FUZZ) and by `TrainingDataFuzzReplayTests`, which replays every committed
// corpus file (tools/fuzz/corpus/training/) through it on every test run.
//
// The first two bytes choose the reading: text or prompt/completion JSONL, the document
// delimiter (self-overlapping ones included), the context length and how many files the rest is
// cut into (at 0x00 bytes). The rest is written to scratch files and read with `TrainingData`
// over the byte-level tokenizer for up to two epochs, against a reference built here from the
// same bytes (split by the delimiter, each record tokenized on its own):
// - text: every window holds exactly the next `contextLength` tokens of the cyclic document
//   stream, cut into pieces exactly at document ends;
// - completions: every example is the next non-blank line's BOS + prompt + completion + EOS, cut
//   at the context, with the first target at the last prompt token; a line the reference cannot
//   use must be refused with a message naming the file and the byte offset;
// - resumption: a second reader started from the position the first one had after a few steps
//   reads exactly what the first one reads from then on (or fails the same way).
// No trap, no input-dependent crash, no disagreement.
enum TrainingDataExercise {
    static let tokenizer = try! Tokenizer(spec: .byteLevel())
    static let delimiters: [[UInt8]] = [[0x0A], [0x0A, 0x0A], [0x09], Array("<|endoftext|>".utf8), Array("aa".utf8),
                                        Array("aba".utf8), [0x0D, 0x0A], Array("\n---\n".utf8)]

    /// What the reader must produce next: a sequence, or a refusal of the record at a byte offset
    /// of a file.
    enum Expected: Equatable {
        case sequence(TrainingSequence)
        case refusal(file: Int, offset: Int)
    }

    /// Runs the checks (a failed check traps); returns how many sequences were read.
    @discardableResult
    static func run(_ input: UnsafeRawBufferPointer) -> Int {
        guard input.count >= 2 else { return 0 }
        let mode = input[0], sizes = input[1]
        let completions = mode & 1 == 1
        let delimiter = completions ? [UInt8(0x0A)] : delimiters[Int(mode >> 1) & 7]
        let contextLength = 2 + Int(sizes & 63)
        let fileCount = 1 + Int(mode >> 4) % 3
        let resumeAfter = Int(sizes >> 6)
        // The rest, cut into fileCount files at its first 0x00 bytes.
        var contents: [[UInt8]] = []
        var rest = Array(input[2...])[...]
        for _ in 1..<fileCount {
            guard let cut = rest.firstIndex(of: 0) else { break }
            contents.append(Array(rest[..<cut]))
            rest = rest[(cut + 1)...]
        }
        contents.append(Array(rest))

        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = contents.indices.map { "\(dir)/data-\($0)\(completions ? ".jsonl" : ".txt")" }
        for (path, bytes) in zip(paths, contents) {
            precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
        }
        let format: DataFormat = completions ? .completions : .text(delimiter: delimiter)
        let reference = completions ? completionStream(contents, contextLength) : nil
        let documents = completions ? [] : textStream(contents, delimiter)
        let data: TrainingData
        do { data = try TrainingData(files: paths, format: format, tokenizer: tokenizer, contextLength: contextLength) } catch {
            preconditionFailure("valid arguments refused: \(error)")
        }
        var read = 0
        var resumed: TrainingData?
        var textCursor = (document: 0, token: 0)
        let steps = 2 * max(1, completions ? reference!.count : documents.reduce(0) { $0 + $1.count } / contextLength + 1)
        for step in 0..<min(steps, 256) {
            if step == resumeAfter {
                do {
                    resumed = try TrainingData(files: paths, format: format, tokenizer: tokenizer, contextLength: contextLength,
                                               position: data.position)
                } catch { preconditionFailure("a saved position was refused: \(error)") }
            }
            let got: [TrainingSequence]
            do { got = try data.next(1) } catch {
                refused(error, completions ? reference! : [], step, paths, documentsEmpty: documents.isEmpty)
                if let resumed {
                    let again = Result { () throws(TrainingError) in try resumed.next(1) }
                    guard case .failure(let second) = again else { preconditionFailure("the resumed reader reads what the first one refuses") }
                    precondition(second.description == error.description, "the resumed reader fails differently")
                }
                return read
            }
            if let resumed {
                do {
                    let again = try resumed.next(1)
                    precondition(again == got, "the resumed reader reads something else at step \(step)")
                } catch {
                    preconditionFailure("the resumed reader refuses what the first one reads: \(error)")
                }
            }
            read += got.count
            if completions {
                guard let reference, !reference.isEmpty else { preconditionFailure("a sequence from no records") }
                precondition(got.count == 1 && .sequence(got[0]) == reference[step % reference.count],
                             "example \(step) differs from the reference")
            } else {
                precondition(!documents.isEmpty, "a window from no documents")
                precondition(got.reduce(0) { $0 + $1.tokens.count } == contextLength, "a window is not contextLength tokens")
                for (i, piece) in got.enumerated() {
                    precondition(piece.firstTarget == 0 && !piece.tokens.isEmpty, "a text piece with a first target or no tokens")
                    let doc = documents[textCursor.document]
                    precondition(Array(doc[textCursor.token..<(textCursor.token + piece.tokens.count)]) == piece.tokens,
                                 "window \(step) differs from the document stream")
                    textCursor.token += piece.tokens.count
                    if textCursor.token == doc.count {
                        textCursor = ((textCursor.document + 1) % documents.count, 0)
                    } else {
                        precondition(i == got.count - 1, "a piece ends inside a document before the window's end")
                    }
                }
            }
        }
        return read
    }

    /// The byte-level tokenization of each non-empty document of the files, in order.
    static func textStream(_ files: [[UInt8]], _ delimiter: [UInt8]) -> [[Int32]] {
        let bos = tokenizer.bosTokenId.map { [$0] } ?? [], eos = tokenizer.eosTokenIds.first.map { [$0] } ?? []
        return files.flatMap { split($0, delimiter) }.filter { !$0.bytes.isEmpty }.map {
            bos + tokenizer.encode(String(decoding: $0.bytes, as: UTF8.self), addSpecialTokens: false) + eos
        }
    }

    /// What each non-blank line of the files must become, in order (ending at the first refusal).
    static func completionStream(_ files: [[UInt8]], _ contextLength: Int) -> [Expected] {
        let bos = tokenizer.bosTokenId.map { [$0] } ?? [], eos = tokenizer.eosTokenIds.first.map { [$0] } ?? []
        var out: [Expected] = []
        for (f, bytes) in files.enumerated() {
            for (line, offset) in split(bytes, [0x0A]) {
                let trimmed = line.last == 0x0D ? Array(line.dropLast()) : line
                if trimmed.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                guard let value = try? JSONReader.parse(trimmed), let prompt = value["prompt"]?.stringValue,
                      let completion = value["completion"]?.stringValue else {
                    out.append(.refusal(file: f, offset: offset))
                    return out
                }
                let head = bos + tokenizer.encode(prompt, addSpecialTokens: false)
                let tail = tokenizer.encode(completion, addSpecialTokens: false) + eos
                guard !head.isEmpty, head.count < contextLength else {
                    out.append(.refusal(file: f, offset: offset))
                    return out
                }
                out.append(.sequence(TrainingSequence(tokens: Array((head + tail).prefix(contextLength)),
                                                      firstTarget: head.count - 1)))
            }
        }
        return out
    }

    /// The records of one file (without delimiters) and their byte offsets: the first occurrence
    /// of the delimiter from a record's start ends it; bytes after the last delimiter are the last
    /// record.
    static func split(_ bytes: [UInt8], _ delimiter: [UInt8]) -> [(bytes: [UInt8], offset: Int)] {
        var out: [(bytes: [UInt8], offset: Int)] = []
        var start = 0, i = 0
        while i + delimiter.count <= bytes.count {
            if bytes[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                out.append((Array(bytes[start..<i]), start))
                i += delimiter.count
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { out.append((Array(bytes[start...]), start)) }
        return out
    }

    /// The reader refused: right only where the reference has a refusal (or there is nothing to
    /// read), and the message names the file and byte offset.
    static func refused(_ error: TrainingError, _ reference: [Expected], _ step: Int, _ paths: [String], documentsEmpty: Bool) {
        let message = error.description
        precondition(!message.isEmpty, "an empty error message")
        if !reference.isEmpty, case .refusal(let file, let offset) = reference[step % reference.count] {
            precondition(message.contains(paths[file]) && message.contains("byte \(offset)"),
                         "the refusal does not name \(paths[file]) at byte \(offset): \(message)")
            return
        }
        precondition(reference.isEmpty && documentsEmpty && message.contains("no records"),
                     "refused readable data at step \(step): \(message)")
    }

    static func scratchDirectory() -> String {
        let base = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/qstar-training-fuzz-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
