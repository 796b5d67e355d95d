/// The rows of one transformer step, as data.
///
/// Every kind of work the model does is a list of rows: prefill (many rows of one line, each
/// seeing the slot's rows up to itself), decode (one row per running line), Quiet-STaR thought
/// steps (a row per stream, fed a token or an injected embedding, seeing its text prefix plus its
/// own earlier thought rows in the scratch region), and a training pass. A row says what goes in,
/// at which rotary position, where its key/value are written in the cache, which cache rows it
/// attends to (`visible`, plus an optional `extra` range), and whether its logits are wanted.
///
/// All rows' keys and values are written to the cache before any row attends, so rows of the same
/// line in one step see each other exactly as the ranges say (causal prefill is `visible` growing
/// by one row per row). Stored as parallel arrays (reused between steps: `removeAll` keeps capacity).
public struct StepBatch {
    /// Token id per row, or `-1 - k` for the k-th injected embedding.
    public private(set) var inputs: [Int32] = []
    public private(set) var embeddings: [UnsafePointer<Float>] = []
    public private(set) var positions: [Int32] = []
    public private(set) var cacheRows: [Int] = []
    public private(set) var visible: [KeyRange] = []
    public private(set) var extra: [KeyRange] = []
    /// Index of the row's logits in the step output, or -1 when not wanted.
    public private(set) var logitIndex: [Int32] = []
    /// Rows whose logits are wanted, in row order.
    public private(set) var logitRows: [Int32] = []

    public init() {}

    public var count: Int { inputs.count }
    public var isEmpty: Bool { inputs.isEmpty }
    public var logitCount: Int { logitRows.count }

    public mutating func removeAll() {
        inputs.removeAll(keepingCapacity: true)
        embeddings.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        cacheRows.removeAll(keepingCapacity: true)
        visible.removeAll(keepingCapacity: true)
        extra.removeAll(keepingCapacity: true)
        logitIndex.removeAll(keepingCapacity: true)
        logitRows.removeAll(keepingCapacity: true)
    }

    /// Adds a row fed token `token`; returns the row's index.
    @discardableResult
    public mutating func append(token: Int32, position: Int, cacheRow: Int, visible: KeyRange,
                                extra: KeyRange = .empty, logits: Bool) -> Int {
        precondition(token >= 0, "StepBatch: negative token id")
        inputs.append(token)
        return appendCommon(position: position, cacheRow: cacheRow, visible: visible, extra: extra, logits: logits)
    }

    /// Adds a row fed the vector at `embedding` (`hiddenSize` floats, read during the step; the
    /// caller keeps it alive) instead of a token's embedding; returns the row's index.
    @discardableResult
    public mutating func append(embedding: UnsafePointer<Float>, position: Int, cacheRow: Int, visible: KeyRange,
                                extra: KeyRange = .empty, logits: Bool) -> Int {
        inputs.append(-1 - Int32(embeddings.count))
        embeddings.append(embedding)
        return appendCommon(position: position, cacheRow: cacheRow, visible: visible, extra: extra, logits: logits)
    }

    private mutating func appendCommon(position: Int, cacheRow: Int, visible: KeyRange, extra: KeyRange,
                                       logits: Bool) -> Int {
        let row = positions.count
        positions.append(Int32(position))
        cacheRows.append(cacheRow)
        self.visible.append(visible)
        self.extra.append(extra)
        if logits {
            logitIndex.append(Int32(logitRows.count))
            logitRows.append(Int32(row))
        } else {
            logitIndex.append(-1)
        }
        return row
    }
}
