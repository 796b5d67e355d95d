import QuietStarKernels
import QuietStarModel

/// A line in flight, as the scheduler sees it: a growing token sequence of which the first `fed`
/// are in the line's KV-cache slot. Generation and scoring implement it.
protocol ScheduledLine: AnyObject {
    /// The tokens known so far (prompt, then whatever was generated).
    var tokens: [Int32] { get }
    /// How many of `tokens` are in the cache (positions `0..<fed`).
    var fed: Int { get set }
    /// Feed tokens up to this count (scoring stops one short: the last token predicts nothing).
    var feedLimit: Int { get }
    /// Whether the row at `position` needs logits.
    func wantsLogits(at position: Int) -> Bool
    /// Nothing more to do: the line's result can be taken.
    var isFinished: Bool { get }
}

/// The rows one line contributed to a step.
struct LineSlice {
    /// Index into the scheduler's active lines, and the line's cache slot.
    var active: Int
    var slot: Int
    /// First batch row and first position of the slice (rows are consecutive positions).
    var firstRow: Int
    var firstPosition: Int
    var count: Int
}

/// Continuous batching of input lines over one transformer and one KV cache.
///
/// Up to `slots` lines are in flight, each owning a cache slot. Every step packs one decode row
/// for each line that is generating, then prompt rows of lines still being prefilled (oldest
/// first, split into chunks across steps when long) up to `maxStepRows`, so a step is a single
/// batch of matrix-matrix products whatever mix of prefill and decode it carries. A finished line
/// frees its slot for the next input line at once, so the batch stays full until the input ends.
///
/// Input is pulled lazily and results leave in input order (`LineIntake`): memory stays bounded
/// however long the input is, and a slow early line delays output but never reorders it.
final class LineScheduler<Line: ScheduledLine> {
    let transformer: Transformer
    let cache: KVCache
    let maxStepRows: Int
    let window: Int

    struct Active {
        var line: Line
        var slot: Int
        var ordinal: Int
    }
    private(set) var active: [Active] = []
    private var batch = StepBatch()
    private var slices: [LineSlice] = []

    init(transformer: Transformer, cache: KVCache, maxStepRows: Int, window: Int) {
        precondition(maxStepRows >= cache.slotCount, "LineScheduler: a step must fit one row per slot")
        self.transformer = transformer
        self.cache = cache
        self.maxStepRows = maxStepRows
        self.window = max(window, cache.slotCount)
    }

    /// Runs every request of `source` to completion.
    ///
    /// - `start` turns a request into a line (tokenising, validating) or a failure.
    /// - `consume` sees each step's output with the slices of lines that got logits (all of
    ///   them; `slices` lists every line of the step), before `fed` advances.
    /// - `finish` turns a finished line into its value.
    /// - `emit` receives outcomes in input order.
    /// - `onStep` is told the rows of each step (for progress).
    /// - `inputReady` says whether `source.next()` would return without waiting (a pipe fed by a
    ///   person or a slow producer): while lines are in flight, the scheduler admits only ready
    ///   input and keeps stepping, so results never wait on input that has not arrived.
    func run<Source: IteratorProtocol, Tag, Value>(
        _ source: inout Source,
        start: (LineRequest<Tag>) -> Result<Line, LineError>,
        consume: (StepOutput, StepBatch, [LineSlice]) -> Void,
        finish: (Line) -> Result<Value, LineError>,
        emit: (LineOutcome<Tag, Value>) -> Void,
        onStep: (Int) -> Void = { _ in },
        inputReady: () -> Bool = { true }
    ) where Source.Element == LineRequest<Tag> {
        var intake = LineIntake<Tag, Value>(slots: cache.slotCount, window: window)
        while true {
            intake.admit(from: &source, busy: !active.isEmpty, inputReady: inputReady, emit: emit,
                         start: { request in
                             switch start(request) {
                             case .failure(let error): return .done(.failure(error))
                             case .success(let line): return line.isFinished ? .done(finish(line)) : .run(line)
                             }
                         },
                         running: { line, slot, ordinal in active.append(Active(line: line, slot: slot, ordinal: ordinal)) })
            if active.isEmpty {
                if intake.exhausted { break }
                continue
            }

            // Plan the step: a decode row per generating line, then prefill chunks, oldest first.
            batch.removeAll()
            slices.removeAll(keepingCapacity: true)
            var budget = maxStepRows
            for pass in 0..<2 {
                for (i, a) in active.enumerated() where budget > 0 {
                    let remaining = a.line.feedLimit - a.line.fed
                    guard remaining > 0, (pass == 0) == (remaining == 1) else { continue }
                    let n = min(remaining, budget)
                    addRows(a, index: i, count: n)
                    budget -= n
                }
            }
            precondition(!batch.isEmpty, "LineScheduler: active lines with nothing to feed")

            let output = transformer.step(batch, cache: cache)
            onStep(batch.count)
            consume(output, batch, slices)
            for s in slices { active[s.active].line.fed += s.count }

            // Retire finished lines, in admission order, freeing their slots.
            var kept = 0
            for a in active {
                if a.line.isFinished {
                    cache.recycle(slot: a.slot, usedRows: a.line.fed)
                    intake.retire(slot: a.slot, ordinal: a.ordinal, finish(a.line), emit: emit)
                } else {
                    active[kept] = a
                    kept += 1
                }
            }
            active.removeLast(active.count - kept)
        }
        precondition(intake.isDrained, "LineScheduler: outcomes left unemitted")
    }

    /// Appends rows for the next `count` tokens of line `a` (its positions `fed..<fed+count`).
    private func addRows(_ a: Active, index: Int, count: Int) {
        let window = transformer.config.slidingWindow
        let first = a.line.fed
        slices.append(LineSlice(active: index, slot: a.slot, firstRow: batch.count, firstPosition: first, count: count))
        a.line.tokens.withUnsafeBufferPointer { tokens in
            for p in first..<(first + count) {
                batch.append(token: tokens[p], position: p, cacheRow: cache.textRow(slot: a.slot, position: p),
                             visible: cache.visibleRows(slot: a.slot, position: p, window: window),
                             logits: a.line.wantsLogits(at: p))
            }
        }
    }
}

/// How a request starts: a line to run, or its final result at once (a failure, or a line with
/// nothing to do).
enum LineStart<Line, Value> {
    case run(Line)
    case done(Result<Value, LineError>)
}

/// The admission side of continuous batching, shared by `LineScheduler` and `ThoughtGenerator`:
/// the free cache slots, the in-order output window, and when to pull more input.
///
/// Input is pulled lazily: only while a slot is free and fewer than `window` lines are between the
/// oldest unemitted one and the newest (memory stays bounded however long the input is), and,
/// while lines are in flight, only while `inputReady()` says a read would not wait (a pipe fed by
/// a person or a slow producer), so results never wait on input that has not arrived.
struct LineIntake<Tag, Value> {
    private var freeSlots: [Int]
    private var outcomes = InOrderOutcomes<Tag, Value>()
    private let window: Int
    /// The source has no more requests.
    private(set) var exhausted = false

    init(slots: Int, window: Int) {
        freeSlots = Array((0..<slots).reversed())
        self.window = window
    }

    /// Every admitted line has been emitted.
    var isDrained: Bool { outcomes.isDrained }

    /// Admits requests from `source`: `start` decides how each begins; a line to run gets a free
    /// slot and its ordinal through `running`; a result goes to the in-order output. `busy`: lines
    /// are already in flight.
    mutating func admit<Source: IteratorProtocol, Line>(
        from source: inout Source, busy: Bool, inputReady: () -> Bool,
        emit: (LineOutcome<Tag, Value>) -> Void,
        start: (LineRequest<Tag>) -> LineStart<Line, Value>,
        running: (Line, _ slot: Int, _ ordinal: Int) -> Void
    ) where Source.Element == LineRequest<Tag> {
        var busy = busy
        while !exhausted, !freeSlots.isEmpty, outcomes.inFlight < window, !busy || inputReady() {
            guard let request = source.next() else { exhausted = true; break }
            let ordinal = outcomes.admit(request)
            switch start(request) {
            case .done(let result):
                outcomes.complete(ordinal, result, emit: emit)
            case .run(let line):
                running(line, freeSlots.removeLast(), ordinal)
                busy = true
            }
        }
    }

    /// Line `ordinal` is done: frees its slot and emits whatever is now next in order.
    mutating func retire(slot: Int, ordinal: Int, _ result: Result<Value, LineError>,
                         emit: (LineOutcome<Tag, Value>) -> Void) {
        freeSlots.append(slot)
        outcomes.complete(ordinal, result, emit: emit)
    }
}

/// Hands line outcomes on in input order, whatever order the lines finish in: a finished line
/// waits here until every earlier line has been emitted. `inFlight` (admitted but not yet
/// emitted) is what callers bound to keep memory independent of the input's length.
struct InOrderOutcomes<Tag, Value> {
    private var tags: [Int: (line: Int, tag: Tag)] = [:]
    private var pending: [Int: LineOutcome<Tag, Value>] = [:]
    private var admitted = 0
    private var emitted = 0

    var inFlight: Int { admitted - emitted }
    var isDrained: Bool { pending.isEmpty && tags.isEmpty }

    /// Registers the next request and returns its ordinal (its place in the output).
    mutating func admit(_ request: LineRequest<Tag>) -> Int {
        tags[admitted] = (request.line, request.tag)
        admitted += 1
        return admitted - 1
    }

    /// Records line `ordinal`'s result and emits every outcome that is now next in order.
    mutating func complete(_ ordinal: Int, _ result: Result<Value, LineError>,
                           emit: (LineOutcome<Tag, Value>) -> Void) {
        let info = tags.removeValue(forKey: ordinal)!
        pending[ordinal] = LineOutcome(line: info.line, tag: info.tag, result: result)
        while let outcome = pending.removeValue(forKey: emitted) {
            emit(outcome)
            emitted += 1
        }
    }
}
