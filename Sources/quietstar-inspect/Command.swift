import ArgumentParser
import Foundation
import QuietStarCLI
import QuietStarFormat

struct QuietStarInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quietstar-inspect",
        abstract: "Show what a .qstar checkpoint holds, check its checksums, or print a tensor's values.",
        discussion: """
            Summary (the default): File (size, format version, tensor and metadata counts, \
            where the index is); Model (architecture, parameter count, hyperparameters: the \
            general.* and <architecture>.* keys); Tokenizer; Thoughts (quietstar.* settings, \
            thought and mixing-head tensors); Provenance; Training; Other metadata; and a \
            Tensors table (name, dtype, shape, encoding, stored size; zstd tensors show their \
            compressed size in percent). The parameter count sums the elements of every tensor \
            except optimizer.* state, which is reported apart. Long arrays and strings are \
            shortened ("32002 strings: ...") unless --full-metadata.

            --verify: checks every tensor, the XXH64 of its stored bytes and, for zstd tensors, \
            that the frame decodes to exactly the tensor's size. Prints one line per damaged \
            tensor ("DAMAGED <name> at byte <offset> ...: what is wrong"), then a verdict line. \
            Reads the whole file.

            --tensor NAME [--limit N]: the tensor's dtype, shape, storage and checksum status, \
            then its first N values (default 16; --limit 0 prints all), 8 per line after the \
            flat index of the first. Floating dtypes (f32, f16, bf16, q8_0) are decoded to \
            Float; integer dtypes (i32, i64, u8) print as integers. A damaged raw tensor's \
            values are still printed, marked as such, with exit status 3. A tensor whose dtype \
            or encoding comes from a newer format version is listed but cannot be printed \
            (exit status 65).

            --json: the same as one JSON object on stdout, keys in a fixed order. Summary: \
            file, model, metadata (key -> {"type", "value"}; arrays over 16 elements and \
            strings over 1024 bytes become {"count" or "length", "head", "truncated": true} \
            unless --full-metadata), tensors ([{name, dtype, shape, encoding, offset, \
            stored_bytes, logical_bytes, elements, checksum}], checksums as "0x" and 16 hex \
            digits), and with --verify a verification object (ok, checked_tensors, \
            checked_bytes, damaged: [{name, offset, stored_bytes, kind, message}], \
            not_decoded). --tensor: the entry's fields, checksum_ok, shown and values. \
            Non-finite floats are the strings "NaN", "Infinity" and "-Infinity".

            Opening checks the header, the index checksum and every directory entry, and costs \
            the same for a 10 MB or a 10 GB file; only --verify and --tensor read tensor data. \
            Names and strings from the file are printed with control characters escaped \
            (\\n, \\t, \\u{1B}, ...), so a hostile file cannot rewrite your terminal.

            Examples:
              quietstar-inspect model.qstar
              quietstar-inspect model.qstar --json | jq '.model.parameters'
              quietstar-inspect model.qstar --verify || echo "damaged: fetch it again"
              quietstar-inspect model.qstar --tensor token_embedding.weight --limit 64
              quietstar-inspect model.qstar --tensor output_norm.weight --limit 0 --json

            An invalid file (exit 65) is reported with the field and byte offset that is wrong, \
            e.g. "m.qstar: header.file_length at byte 16: header says the file is 1768 bytes but \
            it has 1000: the file is truncated". A damaged index also exits 65 (nothing can be \
            trusted); exit 3 means the index is fine but tensor data is damaged.

            \(ExitStatus.helpText)
            """)

    @Argument(help: ArgumentHelp("The checkpoint to inspect.", valueName: "FILE"))
    var file: String

    @Flag(name: .long, help: "Write one JSON object to stdout instead of text.")
    var json = false

    @Flag(name: .long, help: "Check every tensor's checksum (and that zstd tensors decode); exit 3 if any is damaged.")
    var verify = false

    @Option(name: .long, help: ArgumentHelp("Print this tensor's values.", valueName: "NAME"))
    var tensor: String?

    @Option(name: .long, help: ArgumentHelp("With --tensor: how many values to print; 0 prints all. (default: 16)", valueName: "N"))
    var limit: Int?

    @Flag(name: .long, help: "Show metadata arrays and strings in full instead of shortened.")
    var fullMetadata = false

    func validate() throws {
        if let limit {
            guard tensor != nil else { throw ValidationError("--limit only applies to --tensor NAME") }
            guard limit >= 0 else { throw ValidationError("--limit must be 0 (all values) or a positive count") }
        }
        if verify && tensor != nil {
            throw ValidationError("--verify and --tensor are separate modes (--tensor already checks that tensor's checksum)")
        }
        if fullMetadata && tensor != nil {
            throw ValidationError("--full-metadata applies to the summary, not to --tensor")
        }
    }

    func run() throws {
        let checkpoint = try Self.open(file)
        let out = Output()
        do {
            let status = try run(checkpoint, out)
            try out.flush()
            if status != .success { throw ExitCode(status.rawValue) }
        } catch let e as Output.WriteError {
            StandardError.report("quietstar-inspect", e.message)
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
    }

    private func run(_ checkpoint: QStarFile, _ out: Output) throws -> ExitStatus {
        if let name = tensor {
            guard let info = checkpoint.info(name) else {
                var message = "\(DisplayEscaping.escape(file)) has no tensor named '\(DisplayEscaping.escape(name))'"
                let close = TensorValues.closeMatches(to: name, in: checkpoint.tensors.map(\.name))
                if close.isEmpty {
                    message += " (it has \(checkpoint.tensors.count); run quietstar-inspect \(DisplayEscaping.escape(file)) to list them)"
                } else {
                    message += "; did you mean: " + close.map { DisplayEscaping.escape($0) }.joined(separator: ", ")
                }
                StandardError.report("quietstar-inspect", message)
                return .usage
            }
            do {
                if let damage = try TensorValues.print(checkpoint, info, limit: limit ?? 16, json: json, to: out) {
                    try out.flush()
                    StandardError.report("quietstar-inspect", DisplayEscaping.escape(damage.description))
                    return .checksumMismatch
                }
            } catch TensorValues.Failure.damaged(let e) {
                StandardError.report("quietstar-inspect", DisplayEscaping.escape(e.description))
                return .checksumMismatch
            } catch TensorValues.Failure.unsupported(let e) {
                StandardError.report("quietstar-inspect", DisplayEscaping.escape(e.description))
                return .invalidInput
            }
            return .success
        }

        let verification = verify ? Verification.run(checkpoint) : nil
        if json {
            let doc = Report.document(checkpoint, path: file, fullMetadata: fullMetadata, verification: verification)
            try out.line(JSONLayout.render(doc))
        } else if let verification {
            for line in verification.lines { try out.line(line) }
        } else {
            try out.write(Summary.render(checkpoint, path: file, fullMetadata: fullMetadata))
        }
        if let verification, !verification.damaged.isEmpty { return .checksumMismatch }
        return .success
    }

    /// Opens and validates `path`, or reports why not and exits: 66 when the file cannot be
    /// read at all, 65 when it is not a valid .qstar file.
    static func open(_ path: String) throws -> QStarFile {
        var st = stat()
        if stat(path, &st) != 0 {
            StandardError.report("quietstar-inspect", "\(DisplayEscaping.escape(path)): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.missingInput.rawValue)
        }
        do {
            return try QStarFile.open(path: path)
        } catch {
            // Messages quote names and strings from the file: escape them.
            StandardError.report("quietstar-inspect", DisplayEscaping.escape(error.description))
            throw ExitCode(error.kind == .io ? ExitStatus.missingInput.rawValue : ExitStatus.invalidInput.rawValue)
        }
    }
}
