import Foundation
import QuietStarCheckpoint
import QuietStarFormat

/// Hugging Face model folder -> `.qstar`.
///
/// Everything is checked before the first tensor byte is written: the config, that every
/// tensor the config implies is present with the right shape and a float dtype, that nothing
/// unexpected is left over, the tokenizer, and the Quiet-STaR extras. Then tensors stream one at
/// a time (embedding, layers in order, final norm, head, thought parameters), each through the
/// same bounded buffers, and the file appears only when complete.
public func convertFromHF(directory: String, output: String, options: ConversionOptions = ConversionOptions(),
                          progress: ((ConversionProgress) -> Void)? = nil) throws(InteropError) -> ConversionReport {
    let started = DispatchTime.now().uptimeNanoseconds
    guard options.thoughtTokens <= UInt64(QuietStarSettings.maxThoughtTokens) else {
        throw InteropError(.usage, "thought tokens (\(options.thoughtTokens)) must be at most \(QuietStarSettings.maxThoughtTokens)")
    }
    let checkpoint = try HFCheckpoint(directory: directory)
    var notes = checkpoint.notes
    let (config, architecture, warnings) = try HFConfig.parse(checkpoint.configJSON, path: checkpoint.configPath,
                                                     allowUnknownKeys: options.ignoreUnknownConfigKeys)
    let encoding = options.compression ?? .raw

    // The model tensors.
    var plan: [PlannedTensor] = []
    var consumed = Set<String>()
    var tally = DTypeTally()
    func planTensor(qstarName: String, hfName: String, hfShape: [UInt64], qstarShape: [UInt64],
                    scaledRow: Float? = nil) throws(InteropError) {
        guard let (file, info) = checkpoint.location(hfName) else {
            throw InteropError(.invalidInput, path: checkpoint.directory, field: hfName,
                               "tensor is missing (required by \(Paths.baseName(of: checkpoint.configPath)))")
        }
        guard info.shape == hfShape else {
            throw InteropError(.invalidInput, path: file.path, field: hfName,
                               "shape \(info.shape) does not match \(hfShape) implied by config.json")
        }
        guard info.dtype.isConvertibleFloat else {
            throw InteropError(.unsupported, path: file.path, field: hfName,
                               "dtype \(info.dtype.rawValue) is not a float type we convert (F32, F16, BF16, F64)")
        }
        consumed.insert(hfName)
        let sourceDType = info.dtype.qstarDType ?? .f32  // F64 is narrowed to f32
        // A scaled thought embedding is a new value that only f32 holds exactly (bf16 x 100
        // needs 15 significant bits); it is a single vector, so size does not matter.
        let dtype = scaledRow != nil ? .f32
            : DTypePolicy.target(requested: options.dtype, source: sourceDType, shape: qstarShape, name: qstarName)
        if options.dtype == .q8_0 && qstarShape.count >= 2 && dtype != .q8_0 {
            notes.append("\(qstarName) kept as \(dtype.name): its innermost dimension \(qstarShape.last!) is not a multiple of 32")
        }
        tally.add(dtype.name)
        let bytes = UInt64(info.dataRange.count)
        if let scale = scaledRow {
            let width = Int(qstarShape[0])
            plan.append(PlannedTensor(name: qstarName, shape: qstarShape, dtype: dtype, encoding: encoding, sourceBytes: bytes) {
                ScaledRowSource(base: SafetensorsSource(file: file, info: info), width: width, scale: scale)
            })
        } else {
            plan.append(PlannedTensor(name: qstarName, shape: qstarShape, dtype: dtype, encoding: encoding, sourceBytes: bytes) {
                SafetensorsSource(file: file, info: info)
            })
        }
    }
    for entry in HFTensorNames.expectedTensors(config) {
        try planTensor(qstarName: entry.qstarName, hfName: entry.hfName, hfShape: entry.shape, qstarShape: entry.shape)
    }
    if config.tieEmbeddings, checkpoint.location("lm_head.weight") != nil {
        consumed.insert("lm_head.weight")
        notes.append("lm_head.weight ignored: tie_word_embeddings is true, so the output head is the embedding (as in transformers)")
    }

    // Quiet-STaR extras.
    let names = checkpoint.tensorNames
    let quietStar = try QuietStarLayout.detect(names: names, hiddenSize: UInt64(config.hiddenSize), path: checkpoint.directory)
    if quietStar {
        try QuietStarLayout.checkConfig(checkpoint.configJSON, path: checkpoint.configPath)
        for e in QuietStarLayout.entries(hiddenSize: UInt64(config.hiddenSize)) {
            try planTensor(qstarName: e.qstarName, hfName: e.hfName, hfShape: e.hfShape, qstarShape: e.qstarShape,
                           scaledRow: e.role == .thoughtEmbedding ? Float(QuietStarLayout.embeddingScale) : nil)
        }
        notes.append("Quiet-STaR layout: thought embeddings stored as row 0 x \(Int(QuietStarLayout.embeddingScale)), talk head as mixing_head.*")
    } else {
        notes.append("plain model: no start_embedding/end_embedding/talk_head tensors, so no thought parameters")
    }

    // Anything left over would be silently dropped: refuse, except buffers transformers recomputes.
    var ignoredBuffers = 0
    for name in names.sorted() where !consumed.contains(name) {
        if name.hasSuffix(".rotary_emb.inv_freq") { ignoredBuffers += 1; continue }
        let file = checkpoint.location(name)!.file
        throw InteropError(.invalidInput, path: file.path, field: name,
                           "unexpected tensor: not part of a \(architecture.rawValue) model or the Quiet-STaR layout")
    }
    if ignoredBuffers > 0 { notes.append("ignored \(ignoredBuffers) rotary_emb.inv_freq buffers (recomputed from rope_theta)") }

    // Tokenizer.
    guard let tokenizerJSON = checkpoint.tokenizerJSON else {
        throw InteropError(.missingInput, path: Paths.join(directory, "tokenizer.json"),
                           "file not found: the tokenizer must travel inside the .qstar file (a sentencepiece-only tokenizer.model is not supported; save the fast tokenizer)")
    }
    let tokenizer = try TokenizerBridge.importHF(
        tokenizerJSON: tokenizerJSON, tokenizerConfigJSON: checkpoint.tokenizerConfigJSON,
        path: Paths.join(directory, "tokenizer.json"))
    guard tokenizer.vocabularySize <= config.vocabSize else {
        throw InteropError(.invalidInput, path: Paths.join(directory, "tokenizer.json"),
                           "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocab_size is \(config.vocabSize)")
    }

    // Metadata.
    var metadata = Metadata()
    var general = config
    if general.name == nil { general.name = Paths.baseName(of: directory) }
    for (k, v) in general.metadataEntries { metadata[k] = v }
    for (k, v) in tokenizer.metadata { metadata[k] = v }
    if quietStar {
        var ids: [UInt64] = []
        for token in [QuietStarLayout.startThoughtToken, QuietStarLayout.endThoughtToken] {
            guard let id = tokenizer.tokenID(token) else {
                throw InteropError(.invalidInput, path: Paths.join(directory, "tokenizer.json"), field: token,
                                   "a Quiet-STaR checkpoint needs this added token in its tokenizer")
            }
            guard id < UInt64(config.vocabSize) else {
                throw InteropError(.invalidInput, path: Paths.join(directory, "tokenizer.json"), field: token,
                                   "id \(id) is outside the model's vocabulary of \(config.vocabSize)")
            }
            ids.append(id)
        }
        for (k, v) in QuietStarLayout.metadataEntries(startThoughtID: ids[0], endThoughtID: ids[1],
                                                       thoughtTokens: options.thoughtTokens) {
            metadata[k] = v
        }
    }
    if let generation = checkpoint.generationConfigJSON {
        guard let text = String(validating: generation, as: UTF8.self) else {
            throw InteropError(.invalidInput, path: Paths.join(directory, "generation_config.json"), "not valid UTF-8")
        }
        metadata["huggingface.generation_config"] = .string(text)
    }
    metadata["provenance.creator"] = .string("quietstar-convert")
    metadata["provenance.creator_version"] = .string(QuietStarInteropVersion.string)
    metadata["provenance.source"] = .string(Paths.baseName(of: directory))
    metadata["provenance.source_config_digest"] = .string(xxh64Digest(checkpoint.configBytes))

    let (read, written) = try writeQStar(path: output, tensors: plan, metadata: metadata,
                                         compressionLevel: options.compressionLevel, progress: progress)
    return ConversionReport(
        output: output, tensorCount: plan.count, bytesRead: read, bytesWritten: written,
        dtypeCounts: tally.sorted, quietStar: quietStar, notes: notes, warnings: warnings,
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}
