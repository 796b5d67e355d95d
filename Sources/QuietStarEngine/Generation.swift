import QuietStarKernels
import QuietStarModel
import QuietStarTokenizer

/// Settings of a generation run.
public struct GenerationOptions: Sendable {
    /// Most tokens generated per line.
    public var maxTokens: Int = 256
    /// Generation stops when the completion contains one of these; the completion ends before it.
    public var stop: [String] = []
    public var sampling = SamplingOptions()
    /// With the line index, seeds each line's random generator.
    public var seed: UInt64 = 0
    /// Lines in flight at once (KV-cache slots). More lines make each decode step a bigger, more
    /// efficient matrix product, at the cost of cache memory.
    public var batchSize: Int = 32
    /// Most rows (tokens) per transformer step; bounds prefill chunk size and activation memory.
    public var maxStepTokens: Int = 512
    /// Keep generating past end-of-sequence tokens (until `maxTokens` or the context is full).
    public var ignoreEndOfSequence = false
    /// Add the tokenizer's BOS (and any template tokens) to each prompt, as Hugging Face does.
    public var addSpecialTokens = true
    /// How the KV cache stores keys and values: `.f16` halves the memory and the bytes attention
    /// streams per cached token (decoding many lines over long contexts is bound by them), at the
    /// cost of rounding each key and value to f16 (see docs/benchmarks.md for the measured effect).
    public var kvCache: CacheEncoding = .f32

    public init() {}

    public func validate() throws(ModelError) {
        try sampling.validate()
        guard maxTokens >= 0 else { throw .invalidOption("maxTokens", "must be 0 or more, got \(maxTokens)", in: "GenerationOptions") }
        guard batchSize >= 1 else { throw .invalidOption("batchSize", "must be at least 1, got \(batchSize)", in: "GenerationOptions") }
        guard maxStepTokens >= batchSize else {
            throw ModelError(.invalidArgument, "the step budget (\(maxStepTokens) tokens) must be at least the batch size (\(batchSize))")
        }
        guard !stop.contains(where: \.isEmpty) else { throw .invalidOption("stop", "strings must not be empty", in: "GenerationOptions") }
    }
}

/// Why a line's generation ended.
public enum FinishReason: String, Sendable, Equatable {
    /// An end-of-sequence token or a stop string.
    case stop
    /// `maxTokens` reached, or the model's context is full.
    case length
}

/// The generated continuation of one prompt.
public struct Completion: Sendable, Equatable {
    /// The text after the prompt, cut before a matched stop string.
    public var text: String
    /// Every token sampled, the end-of-sequence token included when it ended the line.
    public var tokens: [Int32]
    public var promptTokens: Int
    public var finishReason: FinishReason
}

/// Generates continuations of many prompts with continuous batching (see `LineScheduler`).
///
/// A line's result depends only on its prompt, the options and its line index: greedy decoding is
/// deterministic, and sampling draws from the line's own generator seeded by `(seed, line)`.
public final class Generator {
    public let model: LanguageModel
    public let options: GenerationOptions
    let transformer: Transformer
    let cache: KVCache
    private let scheduler: LineScheduler<GenerationLine>
    private let sampler: Sampler
    /// Per-slot work buffers for sampling (`vocab` floats and ids each), allocated on first use.
    private var sampleFloats: UnsafeMutablePointer<Float>?
    private var sampleOrder: UnsafeMutablePointer<Int32>?

    public init(model: LanguageModel, options: GenerationOptions) throws(ModelError) {
        try options.validate()
        self.model = model
        self.options = options
        transformer = Transformer(weights: model.weights)
        cache = try KVCache(config: model.config, slots: options.batchSize, rowsPerSlot: model.config.contextLength,
                            encoding: options.kvCache)
        scheduler = LineScheduler(transformer: transformer, cache: cache, maxStepRows: options.maxStepTokens,
                                  window: 4 * options.batchSize)
        // Thought markers are never text: plain generation from a Quiet-STaR model skips them.
        var sampling = options.sampling
        for t in model.thoughtMarkers where !sampling.suppressedTokens.contains(t) { sampling.suppressedTokens.append(t) }
        sampler = Sampler(options: sampling, vocabSize: model.config.vocabSize)
    }

    deinit {
        sampleFloats?.deallocate()
        sampleOrder?.deallocate()
    }

    /// Generates for every request, delivering outcomes in request order as they complete.
    /// `onStep` is told the rows (tokens) of each transformer step. `inputReady` says whether
    /// `source.next()` would return at once; while lines are in flight only ready input is taken
    /// (see `LineScheduler`), so a slow input never stalls lines already running.
    public func run<Source: IteratorProtocol, Tag>(_ source: inout Source,
                                                   emit: (LineOutcome<Tag, Completion>) -> Void,
                                                   onStep: (Int) -> Void = { _ in },
                                                   inputReady: () -> Bool = { true })
    where Source.Element == LineRequest<Tag> {
        let vocab = model.config.vocabSize
        if !sampler.options.isGreedy && sampleFloats == nil {
            sampleFloats = .allocate(capacity: options.batchSize * vocab)
            sampleOrder = .allocate(capacity: options.batchSize * vocab)
        }
        let floats = sampleFloats, order = sampleOrder
        let sampler = self.sampler
        scheduler.run(&source,
                      start: { request in self.start(request) },
                      consume: { output, batch, slices in
                          let lines = self.scheduler.active
                          // Each line owns its slot's buffers and its generator: lines are
                          // independent, so they are sampled in parallel.
                          let work = UncheckedBox((lines, slices, output, batch))
                          Threads.parallelFor(slices.count) { i in
                              let (lines, slices, output, batch) = work.value
                              let s = slices[i]
                              let lastRow = s.firstRow + s.count - 1
                              let index = Int(batch.logitIndex[lastRow])
                              guard index >= 0 else { return }
                              let line = lines[s.active].line
                              let token: Int32
                              if let floats, let order {
                                  token = sampler.sample(logits: output.logits(index), random: &line.random,
                                                         probs: floats + s.slot * vocab, order: order + s.slot * vocab)
                              } else {
                                  token = sampler.argmax(output.logits(index))
                              }
                              line.accept(token)
                          }
                      },
                      finish: { line in .success(line.completion()) },
                      emit: emit, onStep: onStep, inputReady: inputReady)
    }

    /// Convenience: generates for `prompts` (line indices 0, 1, ...) and returns the outcomes.
    public func generate(_ prompts: [String]) -> [Result<Completion, LineError>] {
        var source = prompts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
        var results: [Result<Completion, LineError>] = []
        run(&source, emit: { results.append($0.result) })
        return results
    }

    private func start<Tag>(_ request: LineRequest<Tag>) -> Result<GenerationLine, LineError> {
        GenerationLine.prompt(of: request, model: model, options: options).map {
            GenerationLine(prompt: $0, line: request.line, options: options, model: model)
        }
    }
}

extension GenerationLine {
    /// A request's prompt tokens, or why the line cannot be generated from (unreadable input, an
    /// empty prompt, a prompt longer than the context). Plain and thought generation share it.
    static func prompt<Tag>(of request: LineRequest<Tag>, model: LanguageModel,
                            options: GenerationOptions) -> Result<[Int32], LineError> {
        let text: String
        switch request.text {
        case .failure(let error): return .failure(error)
        case .success(let t): text = t
        }
        let prompt = model.tokenizer.encode(text, addSpecialTokens: options.addSpecialTokens)
        let context = model.config.contextLength
        if prompt.isEmpty {
            return .failure(LineError("empty prompt: the tokenizer adds no BOS token, so there is nothing to continue"))
        }
        if prompt.count > context {
            return .failure(LineError("prompt has \(prompt.count) tokens, more than the model's context of \(context)"))
        }
        return .success(prompt)
    }
}

/// Moves values into a concurrent loop; the loop body's disjoint-access contract is what makes it
/// safe (each iteration touches only its own line).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// One prompt being continued.
final class GenerationLine: ScheduledLine {
    private(set) var tokens: [Int32]
    var fed = 0
    let promptCount: Int
    var random: LineRandom
    private let maxTokens: Int
    private let contextLength: Int
    private let stops: [[UInt8]]
    private let endOfSequence: Set<Int32>
    private var text: CompletionText
    private var finishReason: FinishReason?

    init(prompt: [Int32], line: Int, options: GenerationOptions, model: LanguageModel) {
        tokens = prompt
        promptCount = prompt.count
        random = LineRandom(seed: options.seed, line: UInt64(line))
        maxTokens = options.maxTokens
        contextLength = model.config.contextLength
        stops = options.stop.map { Array($0.utf8) }
        endOfSequence = options.ignoreEndOfSequence ? [] : model.endOfSequence
        text = CompletionText(tokenizer: model.tokenizer, prompt: prompt)
        if maxTokens == 0 { finishReason = .length }
    }

    var feedLimit: Int { isFinished ? fed : tokens.count }
    func wantsLogits(at position: Int) -> Bool { position == tokens.count - 1 }
    var isFinished: Bool { finishReason != nil }

    /// Takes the token sampled after the last known one.
    func accept(_ token: Int32) {
        tokens.append(token)
        if endOfSequence.contains(token) {
            finishReason = .stop
            return
        }
        let before = text.bytes.count
        text.append(token)
        if let cut = firstStop(searchingFrom: before) {
            text.truncate(toBytes: cut)
            finishReason = .stop
            return
        }
        // The next step would feed this token at position tokens.count - 1.
        if tokens.count - promptCount >= maxTokens || tokens.count - 1 >= contextLength {
            finishReason = .length
        }
    }

    /// Byte offset of the earliest stop string that ends in the bytes added since `from`.
    private func firstStop(searchingFrom from: Int) -> Int? {
        guard !stops.isEmpty else { return nil }
        let bytes = text.bytes
        var best: Int?
        for stop in stops {
            var i = max(0, from - stop.count + 1)
            while i + stop.count <= bytes.count {
                if bytes[i] == stop[0] && bytes[i..<(i + stop.count)].elementsEqual(stop) {
                    if best.map({ i < $0 }) ?? true { best = i }
                    break
                }
                i += 1
            }
        }
        return best
    }

    func completion() -> Completion {
        Completion(text: text.finalText(), tokens: Array(tokens[promptCount...]), promptTokens: promptCount,
                   finishReason: finishReason ?? .length)
    }
}

/// The completion's text as it grows: the bytes that follow the prompt's text when
/// `prompt + generated` is decoded.
///
/// The streaming decoder is first fed the prompt (its text discarded), so generated tokens are
/// decoded as a continuation: a SentencePiece "▁the" becomes " the", not the "the" a fresh decode
/// of the completion alone would give. Kept as bytes so stop strings are found and cut at exact
/// byte offsets.
struct CompletionText {
    private var decoder: StreamingDecoder
    private(set) var bytes: [UInt8] = []
    private var cut = false

    init(tokenizer: Tokenizer, prompt: [Int32]) {
        decoder = StreamingDecoder(tokenizer: tokenizer)
        for id in prompt { _ = decoder.append(id) }
    }

    mutating func append(_ id: Int32) {
        bytes.append(contentsOf: decoder.append(id).utf8)
    }

    /// Keeps the first `count` bytes (a stop string starts there); nothing is added afterwards.
    mutating func truncate(toBytes count: Int) {
        bytes.removeSubrange(count...)
        cut = true
    }

    /// The final text; an unfinished trailing UTF-8 sequence becomes U+FFFD.
    mutating func finalText() -> String {
        if !cut { bytes.append(contentsOf: decoder.finish().utf8) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
