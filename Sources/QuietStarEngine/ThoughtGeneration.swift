import QuietStarKernels
import QuietStarModel

/// A completion generated with a thought before every output token.
public struct ThoughtCompletion: Sendable, Equatable {
    public var completion: Completion
    /// The prompt's tokens (what the completion continues; decoders need it for exact text).
    public var prompt: [Int32]
    /// The content tokens of the thought behind each output token (`completion.tokens[t]`).
    public var thoughts: [[Int32]]
    /// The mixing weight `w` of each output token (0 where no thought ran: `ThinkWhen`).
    public var mixingWeights: [Double]
    /// Whether each output token was chosen after a thought (all of them under `ThinkWhen.always`).
    public var thought: [Bool]
    /// Output tokens chosen after a thought.
    public var thoughtPositions: Int { thought.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// Quiet-STaR generation: for every output token, think with the text's KV cache, mix, choose the
/// token, drop the thought's cache rows and append the token. The prefix is never re-run.
///
/// Lines advance in lockstep through one stream of batched steps (continuous batching as in
/// `Generator`: a finished line's slot is refilled at once). A line's step contributes:
/// - while thinking, the row of its thought's next step (content tokens want logits; the end row's
///   hidden state is mixed);
/// - otherwise its unfed text (the prompt, in chunks, or the token just chosen) **and**, in the same
///   step, the start row of the next thought: all keys of a step are stored before any row
///   attends, so the start row sees the text row fed beside it. A token then costs `k + 2` steps.
///
/// Lines are independent: output tokens draw from the line's generator `(seed, line)`, thought
/// tokens from `(thought seed, line, position, 0)`, so batching and sharding change nothing.
///
/// Adaptive thinking (`ThinkWhen` other than `always`): the last text row also asks for logits,
/// and the rule reads them when the step ends. Where it says no, the thought whose start row ran
/// beside the text is dropped before its first draw and the token is chosen from the base logits
/// (`w = 0`), so a token without a thought costs one step instead of `k + 2`.
public final class ThoughtGenerator {
    public let model: LanguageModel
    public let options: GenerationOptions
    /// The thought pass every output token runs (its options: k, temperature, seed).
    public let pass: ThoughtPass
    public var thoughtOptions: ThoughtOptions { pass.options }
    let transformer: Transformer
    let cache: KVCache
    private let stepRows: Int
    private let outputSampler: Sampler
    private var batch = StepBatch()
    private var sampleFloats: [Float]
    private var sampleOrder: [Int32]

    public init(model: LanguageModel, options: GenerationOptions, thoughtOptions: ThoughtOptions) throws(ModelError) {
        try options.validate()
        pass = try ThoughtPass(model: model, options: thoughtOptions)
        self.model = model
        self.options = options
        transformer = Transformer(weights: model.weights)
        cache = try KVCache(config: model.config, slots: options.batchSize, rowsPerSlot: model.config.contextLength,
                            scratchRows: options.batchSize * thoughtOptions.steps, encoding: options.kvCache)
        // A step holds up to two rows per line (text + start) besides prefill chunks.
        stepRows = max(options.maxStepTokens, 2 * options.batchSize)
        var sampling = options.sampling
        for t in pass.thoughts.markerIds where !sampling.suppressedTokens.contains(t) { sampling.suppressedTokens.append(t) }
        outputSampler = Sampler(options: sampling, vocabSize: model.config.vocabSize)
        sampleFloats = [Float](repeating: 0, count: model.config.vocabSize)
        sampleOrder = [Int32](repeating: 0, count: model.config.vocabSize)
    }

    /// Generates for every request, delivering outcomes in request order as they complete.
    /// `onStep` and `inputReady` as in `Generator.run`.
    public func run<Source: IteratorProtocol, Tag>(_ source: inout Source,
                                                   emit: (LineOutcome<Tag, ThoughtCompletion>) -> Void,
                                                   onStep: (Int) -> Void = { _ in },
                                                   inputReady: () -> Bool = { true })
    where Source.Element == LineRequest<Tag> {
        var intake = LineIntake<Tag, ThoughtCompletion>(slots: cache.slotCount, window: 4 * options.batchSize)
        var active: [ThinkingLine] = []
        while true {
            intake.admit(from: &source, busy: !active.isEmpty, inputReady: inputReady, emit: emit,
                         start: { request -> LineStart<ThinkingLine, ThoughtCompletion> in
                             switch start(request) {
                             case .failure(let error): return .done(.failure(error))
                             case .success(let line): return line.isFinished ? .done(.success(line.result())) : .run(line)
                             }
                         },
                         running: { line, slot, ordinal in
                             line.slot = slot
                             line.ordinal = ordinal
                             active.append(line)
                         })
            if active.isEmpty {
                if intake.exhausted { break }
                continue
            }
            let rows = step(active)
            onStep(rows)
            var kept: [ThinkingLine] = []
            for line in active {
                if line.isFinished {
                    cache.recycle(slot: line.slot, usedRows: line.text.fed)
                    intake.retire(slot: line.slot, ordinal: line.ordinal, .success(line.result()), emit: emit)
                } else {
                    kept.append(line)
                }
            }
            active = kept
        }
        precondition(intake.isDrained, "ThoughtGenerator: outcomes left unemitted")
    }

    /// Convenience: generates for `prompts` (line indices 0, 1, ...).
    public func generate(_ prompts: [String]) -> [Result<ThoughtCompletion, LineError>] {
        var source = prompts.enumerated().map { LineRequest(line: $0.offset, tag: (), text: .success($0.element)) }.makeIterator()
        var results: [Result<ThoughtCompletion, LineError>] = []
        run(&source, emit: { results.append($0.result) })
        return results
    }

    private func start<Tag>(_ request: LineRequest<Tag>) -> Result<ThinkingLine, LineError> {
        let prompt: [Int32]
        switch GenerationLine.prompt(of: request, model: model, options: options) {
        case .failure(let error): return .failure(error)
        case .success(let p): prompt = p
        }
        let context = model.config.contextLength
        let line = ThinkingLine(text: GenerationLine(prompt: prompt, line: request.line, options: options, model: model),
                                line: request.line, hidden: model.config.hiddenSize, k: thoughtOptions.thoughtTokens)
        line.checkRoom(context: context)
        return .success(line)
    }

    /// Plans and runs one step over `lines`; returns its row count.
    private func step(_ lines: [ThinkingLine]) -> Int {
        let c = model.config, k = thoughtOptions.thoughtTokens, steps = thoughtOptions.steps, h = c.hiddenSize
        let adaptive = thoughtOptions.when != .always
        batch.removeAll()
        var budget = stepRows
        // Mid-thought rows and single-token feeds first (one or two rows each), then prefill chunks.
        for pass in 0..<2 {
            for line in lines where budget > 0 {
                if line.stage > 0 {
                    guard pass == 0 else { continue }
                    line.thoughtRow = appendThoughtRow(line, step: line.stage)
                    budget -= 1
                    continue
                }
                let unfed = line.text.tokens.count - line.text.fed
                guard unfed > 0, (pass == 0) == (unfed == 1) else { continue }
                // Keep a row for the start of the thought when the chunk finishes the text.
                let n = min(unfed, max(budget - 1, 1))
                let first = line.text.fed, last = line.text.tokens.count - 1
                for p in first..<(first + n) {
                    batch.append(token: line.text.tokens[p], position: p, cacheRow: cache.textRow(slot: line.slot, position: p),
                                 visible: cache.visibleRows(slot: line.slot, position: p, window: c.slidingWindow),
                                 logits: adaptive && p == last)
                }
                line.lastTextRow = batch.count - 1
                line.text.fed += n
                budget -= n
                if line.text.fed < line.text.tokens.count {
                    line.lastTextRow = -1   // more text to feed: h_base comes from a later step
                } else if budget > 0 {
                    line.thoughtRow = appendThoughtRow(line, step: 0)
                    line.stage = 0
                    budget -= 1
                } else {
                    line.stage = -2   // no room for the start row: it runs next step
                }
            }
        }
        // A line whose text is fed but whose start row did not fit starts its thought now.
        for line in lines where line.stage == -2 && budget > 0 {
            line.thoughtRow = appendThoughtRow(line, step: 0)
            line.stage = 0
            budget -= 1
        }
        precondition(!batch.isEmpty, "ThoughtGenerator: active lines with nothing to run")
        let out = transformer.step(batch, cache: cache)

        // h_base of the last text position of lines that just fed their text; under adaptive
        // thinking, the decision whether this token thinks.
        for line in lines where line.lastTextRow >= 0 {
            line.hBase.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: out.hidden(row: line.lastTextRow), count: h) }
            if adaptive {
                let logits = out.logits(Int(batch.logitIndex[line.lastTextRow]))
                let (entropy, top) = Confidence.row(logits, vocab: c.vocabSize)
                if !thoughtOptions.when.thinks(entropy: entropy, top: top) {
                    // No thought: forget the start row (if it ran) and choose from the base.
                    line.thoughtRow = -1
                    line.stage = -1
                    line.accept(choose(logits, line), thought: nil, w: 0, context: c.contextLength)
                }
            }
            line.lastTextRow = -1
        }
        // Content tokens: lines whose row this step was start or content token j < k, in row order
        // (which is logit order among thought rows; text rows may ask for logits in between).
        let drawing = lines.filter { $0.thoughtRow >= 0 && $0.stage < k }.sorted { $0.thoughtRow < $1.thoughtRow }
        if !drawing.isEmpty {
            var randoms = drawing.map(\.thoughtRandom)
            var drawn = [Int32](repeating: 0, count: drawing.count)
            let first = Int(batch.logitIndex[drawing[0].thoughtRow])
            let contiguous = drawing.enumerated().allSatisfy { Int(batch.logitIndex[$0.element.thoughtRow]) == first + $0.offset }
            randoms.withUnsafeMutableBufferPointer { r in
                drawn.withUnsafeMutableBufferPointer { d in
                    if contiguous {
                        pass.drawContent(count: drawing.count, logits: out.logits(first), randoms: r.baseAddress!,
                                         tokens: d.baseAddress!)
                    } else {
                        for (i, line) in drawing.enumerated() {
                            pass.drawContent(count: 1, logits: out.logits(Int(batch.logitIndex[line.thoughtRow])),
                                             randoms: r.baseAddress! + i, tokens: d.baseAddress! + i)
                        }
                    }
                }
            }
            for (i, line) in drawing.enumerated() {
                line.thoughtRandom = randoms[i]
                line.content[line.stage] = drawn[i]
            }
        }
        // Finished thoughts: mix, choose the output token, forget the thought.
        let ending = lines.filter { $0.thoughtRow >= 0 && $0.stage == steps - 1 }
        if !ending.isEmpty {
            let mixer = pass.mixer
            mixer.reserve(rows: ending.count)
            for (r, line) in ending.enumerated() {
                line.hBase.withUnsafeBufferPointer { (mixer.base + r * h).update(from: $0.baseAddress!, count: h) }
                (mixer.end + r * h).update(from: out.hidden(row: line.thoughtRow), count: h)
            }
            mixer.mix(rows: ending.count)
            for (r, line) in ending.enumerated() {
                let token = choose(UnsafePointer(mixer.logits + r * c.vocabSize), line)
                line.accept(token, thought: Array(line.content), w: Double(mixer.w[r]), context: c.contextLength)
            }
        }
        for line in lines where line.thoughtRow >= 0 {
            line.thoughtRow = -1
            if line.stage >= 0 { line.stage += 1 }
            if line.stage == steps { line.stage = -1 }
        }
        return batch.count
    }

    /// The output token from `logits` (mixed, or the base's where no thought ran): argmax, or a
    /// draw from the line's own generator.
    private func choose(_ logits: UnsafePointer<Float>, _ line: ThinkingLine) -> Int32 {
        if outputSampler.options.isGreedy { return outputSampler.argmax(logits) }
        return sampleFloats.withUnsafeMutableBufferPointer { f in
            sampleOrder.withUnsafeMutableBufferPointer { o in
                outputSampler.sample(logits: logits, random: &line.text.random, probs: f.baseAddress!, order: o.baseAddress!)
            }
        }
    }

    private func appendThoughtRow(_ line: ThinkingLine, step j: Int) -> Int {
        let k = thoughtOptions.thoughtTokens, position = line.text.tokens.count - 1
        // A new thought after the last text position.
        if j == 0 { line.thoughtRandom = pass.random(line: line.line, position: position, pass: 0) }
        return pass.appendRow(to: &batch, step: j, token: j >= 1 && j <= k ? line.content[j - 1] : 0, cache: cache,
                              slot: line.slot, textPosition: position,
                              streamStart: cache.scratchRow(line.slot * thoughtOptions.steps))
    }
}

/// One prompt being continued with thoughts: the plain line (tokens, stops, EOS, output
/// generator) plus the thought in progress.
final class ThinkingLine {
    let text: GenerationLine
    let line: Int
    /// Place in the output and cache slot, given on admission.
    var ordinal = 0
    var slot = 0
    /// Next thought step to run (0 = start ... k + 1 = end); -1 while text is unfed; -2 when the
    /// text is fed but the start row has not run yet.
    var stage = -1
    /// This step's rows (-1: none).
    var thoughtRow = -1
    var lastTextRow = -1
    var content: [Int32]
    var thoughtRandom = LineRandom(seed: 0, line: 0)
    var hBase: [Float]
    private var thoughts: [[Int32]] = []
    private var weights: [Double] = []
    private var thought: [Bool] = []
    private var contextFull = false
    private let k: Int

    init(text: GenerationLine, line: Int, hidden: Int, k: Int) {
        self.text = text
        self.line = line
        self.k = k
        content = [Int32](repeating: 0, count: k)
        hBase = [Float](repeating: 0, count: hidden)
    }

    var isFinished: Bool { text.isFinished || contextFull }

    /// The next thought (after position `tokens.count - 1`) ends at inline position
    /// `tokens.count + k + 1`; stop (finish reason "length") when that is not below the context.
    func checkRoom(context: Int) {
        if !text.isFinished && text.tokens.count + k + 1 >= context { contextFull = true }
    }

    /// Appends `token`, chosen after `thought` (its content tokens) with weight `w`, or with no
    /// thought (nil: adaptive thinking skipped this position; `w` is 0).
    func accept(_ token: Int32, thought content: [Int32]?, w: Double, context: Int) {
        thoughts.append(content ?? [])
        thought.append(content != nil)
        weights.append(w)
        text.accept(token)
        checkRoom(context: context)
    }

    func result() -> ThoughtCompletion {
        var completion = text.completion()
        if contextFull && !text.isFinished { completion.finishReason = .length }
        return ThoughtCompletion(completion: completion, prompt: Array(text.tokens.prefix(text.promptCount)),
                                 thoughts: thoughts, mixingWeights: weights, thought: thought)
    }
}
