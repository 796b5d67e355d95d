import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarGGUF
import QuietStarTokenizer

/// GGUF file (llama.cpp) -> `.qstar`.
///
/// The file is mapped and validated whole (`GGUFFile.open`) before anything else; then the
/// hyperparameters, every tensor the config implies (present, the right shape, a type we
/// decode, nothing left over) and the tokenizer are checked before the first byte is written.
/// Tensors stream one at a time through the converter's bounded buffers: a tensor whose type is
/// also ours is copied as stored, any other is dequantized a chunk at a time and re-encoded.
///
/// Storage: `options.dtype` if given; otherwise the nearest of ours that loses nothing of the
/// source (F32 -> f32, F16 -> f16, BF16 -> bf16, Q8_0 and the 4/5/6-bit types -> q8_0, which
/// holds Q8_0 exactly and the lower-bit types with 8-bit error). Vectors stay f32, as in
/// every conversion (`DTypePolicy`).
public func convertFromGGUF(path: String, output: String, options: ConversionOptions = ConversionOptions(),
                            progress: ((ConversionProgress) -> Void)? = nil) throws(InteropError) -> ConversionReport {
    let started = DispatchTime.now().uptimeNanoseconds
    let file: GGUFFile
    do { file = try GGUFFile.open(path: path) } catch { throw InteropError(error) }
    let layout = file.layout
    let (config, architecture, warnings) = try GGUFConfig.parse(layout, path: path, allowUnknownKeys: options.ignoreUnknownConfigKeys)
    var notes: [String] = []
    let encoding = options.compression ?? .raw

    var plan: [PlannedTensor] = []
    var consumed = Set<String>()
    var tally = DTypeTally()
    for entry in TensorNames.model(config) {
        let ggufName = GGUFTensorNames.ggufName(forQStar: entry.name)!
        guard let info = layout.tensor(ggufName) else {
            throw InteropError(.invalidInput, path: path, field: ggufName, "tensor is missing (required by the \(architecture.rawValue) hyperparameters)")
        }
        let shape = entry.shape.map { UInt64($0) }
        guard info.shape == shape else {
            throw InteropError(.invalidInput, path: path, field: ggufName, offset: info.entryOffset,
                               "shape \(info.shape) does not match \(shape) implied by the metadata")
        }
        consumed.insert(ggufName)
        var ropeHeads: Int?
        if architecture.permutesQK, let (_, part) = TensorNames.parseLayer(entry.name) {
            switch part {
            case .q, .qBias: ropeHeads = config.headCount
            case .k, .kBias: ropeHeads = config.kvHeadCount
            default: break
            }
        }
        let requested = options.dtype ?? nearestDType(info.type)
        let dtype = DTypePolicy.target(requested: requested, source: .f32, shape: shape, name: entry.name)
        if requested == .q8_0 && shape.count >= 2 && dtype != .q8_0 {
            notes.append("\(entry.name) kept as \(dtype.name): its innermost dimension \(shape.last!) is not a multiple of 32")
        }
        tally.add(dtype.name)
        plan.append(PlannedTensor(name: entry.name, shape: shape, dtype: dtype, encoding: encoding, sourceBytes: info.byteCount) {
            GGUFSource(file: file, info: info, ropeHeads: ropeHeads)
        })
    }
    if architecture.permutesQK {
        notes.append("q and k rows regrouped from llama.cpp's interleaved rotary layout back to Hugging Face's")
    }
    for t in layout.tensors where !consumed.contains(t.name) {
        let why = t.name == "rope_freqs.weight"
            ? "per-frequency rotary factors (Llama 3.1 rope scaling) are not supported"
            : "unexpected tensor: not part of a \(architecture.rawValue) model"
        throw InteropError(t.name == "rope_freqs.weight" ? .unsupported : .invalidInput, path: path, field: t.name,
                           offset: t.entryOffset, why)
    }

    // Our own exports of Quiet-STaR models carry the thought parameters as metadata.
    let thoughts = try GGUFThoughts.read(layout, config: config, path: path)
    for t in thoughts?.tensors ?? [] {
        tally.add(DType.f32.name)
        let values = t.values
        plan.append(PlannedTensor(name: t.name, shape: t.shape, dtype: .f32, encoding: encoding, sourceBytes: UInt64(4 * values.count)) {
            ArraySource(values: values)
        })
    }
    if thoughts != nil { notes.append("Quiet-STaR thought parameters read from quietstar.* metadata (a QuietStar export)") }

    let spec = try GGUFTokenizer.spec(layout, path: path)
    do throws(TokenizerError) { _ = try Tokenizer(spec: spec) } catch {
        throw InteropError(.invalidInput, path: path, field: "tokenizer.ggml.tokens", "\(error)")
    }
    guard spec.vocabularySize <= config.vocabSize else {
        throw InteropError(.invalidInput, path: path, field: "tokenizer.ggml.tokens",
                           "the tokenizer has \(spec.vocabularySize) tokens but the model's vocabulary is \(config.vocabSize)")
    }

    var metadata = Metadata()
    var general = config
    if general.name == nil { general.name = Paths.baseName(of: path) }
    for (k, v) in general.metadataEntries { metadata[k] = v }
    for (k, v) in spec.metadata.entries { metadata[k] = v }
    // Kept verbatim for other readers; QuietStar does not run chat templates.
    if let template = layout["tokenizer.chat_template"]?.stringValue { metadata["tokenizer.chat_template"] = .string(template) }
    for (k, v) in thoughts?.metadata ?? [] { metadata[k] = v }
    metadata["provenance.creator"] = .string("quietstar-convert")
    metadata["provenance.creator_version"] = .string(QuietStarInteropVersion.string)
    metadata["provenance.source"] = .string(Paths.baseName(of: path))
    metadata["provenance.source_format"] = .string("gguf v\(layout.version)")

    let (read, written) = try writeQStar(path: output, tensors: plan, metadata: metadata,
                                         compressionLevel: options.compressionLevel, progress: progress)
    return ConversionReport(
        output: output, tensorCount: plan.count, bytesRead: read, bytesWritten: written,
        dtypeCounts: tally.sorted, quietStar: thoughts != nil, notes: notes, warnings: warnings,
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}

/// Ours that holds a ggml type's values with the least loss for its size (see `convertFromGGUF`).
func nearestDType(_ type: GGMLType) -> DType {
    switch type {
    case .f32: .f32
    case .f16: .f16
    case .bf16: .bf16
    default: .q8_0
    }
}

extension InteropError {
    /// A reader error, its location kept: unreadable files are missing or I/O, bad bytes invalid.
    init(_ error: GGUFError) {
        let kind: Kind
        switch error.kind {
        case .io: kind = .missingInput
        case .unsupported, .unsupportedVersion: kind = .unsupported
        case .notGGUF, .invalid, .metadata: kind = .invalidInput
        }
        self.init(kind, path: error.path, field: error.field, offset: error.offset, error.message)
    }
}
