import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarModel
import QuietStarTokenizer

/// Turning a model into one that learns to think: the Quiet-STaR tensors added to a plain
/// checkpoint (or read from a Quiet-STaR one), initialised as the reference does.
public enum QuietStarSetup {
    /// The tokens that mark a thought; a tokenizer must have both (the byte tokenizer does).
    public static let startMarker = "<|startthought|>"
    public static let endMarker = "<|endthought|>"

    /// Parameters of `file`'s model plus the Quiet-STaR tensors, in trained units (thought
    /// embeddings divided by the embedding scale), and the metadata to write with them
    /// (`quietstar.*` included).
    ///
    /// A plain checkpoint gets: start/end embeddings both the mean input embedding of the tokens
    /// of `initialString` (the reference uses `"---"`), and a mixing head whose first two layers
    /// have PyTorch's default `nn.Linear` initialisation (uniform in ±1/sqrt(fan-in), weights and
    /// biases) and whose last layer is zero, so `w = 0` and the mixed prediction starts as the
    /// base one.
    /// A tokenizer without the markers gets them as two added special tokens after the current
    /// vocabulary, and the model two more rows of embedding and LM head (zero: a marker is never a
    /// token input, the thought embeddings are, and never a sampled token, its logit is masked).
    /// The returned tokenizer is the one to train with.
    public static func parameters(file: QStarFile, config source: ModelConfig, tokenizer: Tokenizer,
                                  hyper: QuietStarHyperparameters, initialString: String, seed: UInt64)
        throws(TrainingError) -> (Parameters, QuietStarSettings, Metadata, Tokenizer) {
        var c = source
        var tokenizer = tokenizer
        var metadata = TrainingCheckpoint.modelMetadata(file)
        let plain = !QuietStarSettings.present(in: file.metadata)
        if plain, tokenizer.id(of: startMarker) == nil || tokenizer.id(of: endMarker) == nil {
            var spec = tokenizer.spec
            let first = Int32(max(c.vocabSize, spec.vocabularySize))
            for (i, marker) in [startMarker, endMarker].enumerated() where tokenizer.id(of: marker) == nil {
                spec.addedTokens.append(TokenizerSpec.AddedToken(id: first + Int32(i), content: marker))
            }
            do { tokenizer = try Tokenizer(spec: spec) } catch { throw TrainingError("adding the thought markers: \(error)") }
            c.vocabSize = max(c.vocabSize, spec.vocabularySize)
            // The tokenizer and config keys are rewritten; the HF tokenizer copy no longer matches.
            for key in metadata.keys where key.hasPrefix("tokenizer.") || key.hasPrefix("llama.") || key.hasPrefix("general.") {
                metadata[key] = nil
            }
            for (key, value) in c.metadataEntries + spec.metadata.entries { metadata[key] = value }
        }
        let parameters = Parameters(config: c, extra: TensorNames.thought(c))
        let scale = Float(hyper.embeddingScale)
        for t in [TensorNames.Thought.startEmbedding, .endEmbedding] { parameters.fileScales[t.rawValue] = scale }
        let settings: QuietStarSettings
        if QuietStarSettings.present(in: file.metadata) {
            do { settings = try QuietStarSettings(metadata: file.metadata, vocabSize: c.vocabSize) }
            catch { throw TrainingError("\(file.path): \(error)") }
            try parameters.load(from: file)
        } else {
            guard let start = tokenizer.id(of: startMarker), let end = tokenizer.id(of: endMarker) else {
                throw TrainingError("\(file.path): the tokenizer has no \(startMarker) / \(endMarker) tokens; Quiet-STaR training needs both (the byte tokenizer has them)")
            }
            // Load the model tensors only (the thought ones do not exist yet); the vocabulary
            // rows past the file's stay zero.
            let model = Parameters(config: source)
            try model.load(from: file)
            for t in model.layout.tensors {
                let to = parameters.values.values(parameters.layout.tensor(t.name)!)
                _ = to.update(fromContentsOf: model.values.values(t))
            }
            let ids = tokenizer.encode(initialString, addSpecialTokens: false)
            guard !ids.isEmpty else { throw TrainingError("the thought initialisation string \(initialString.debugDescription) has no tokens") }
            let h = c.hiddenSize
            let embedding = parameters.pointer(TensorNames.embedding)
            for t in [TensorNames.Thought.startEmbedding, .endEmbedding] {
                let v = parameters.pointer(t.rawValue)
                for i in 0..<h {
                    var sum: Float = 0
                    for id in ids { sum += embedding[Int(id) * h + i] }
                    v[i] = sum / Float(ids.count) / scale
                }
            }
            var random = LineRandom(seed: seed, line: 0x7A1C)
            func uniform(_ name: TensorNames.Thought, fanIn: Int) {
                let bound = 1 / Double(fanIn).squareRoot()
                let v = parameters.pointer(name.rawValue), n = name.shape(c).reduce(1, *)
                for i in 0..<n { v[i] = Float((2 * random.nextUnit() - 1) * bound) }
            }
            uniform(.mixing0Weight, fanIn: 2 * h)
            uniform(.mixing0Bias, fanIn: 2 * h)
            uniform(.mixing1Weight, fanIn: h)
            uniform(.mixing1Bias, fanIn: h)
            parameters.pointer(TensorNames.Thought.mixing2Weight.rawValue).update(repeating: 0, count: h)
            settings = QuietStarSettings(startTokenId: start, endTokenId: end, thoughtTokens: hyper.thoughtTokens,
                                         embeddingScale: hyper.embeddingScale, mixingHeadOutput: .identity)
        }
        for (key, value) in settings.metadataEntries { metadata[key] = value }
        return (parameters, settings, metadata, tokenizer)
    }
}
