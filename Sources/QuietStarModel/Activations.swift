import QuietStarCheckpoint
/// The working memory of transformer steps: every intermediate of the forward pass, addressable by
/// layer, so a backward pass (training) finds what it needs.
///
/// With `keepsLayers` false (inference) all layers share one set of buffers and the residual
/// stream is updated in place: `residual(l)` and `mid(l)` are the same buffer for every `l`. With
/// `keepsLayers` true each layer's input, normalised input, queries, attention output, mid
/// residual, FFN input and gate/up/activation are kept, as llm.c keeps them. The same step code
/// runs in both modes: only the addresses differ. Keys and values live in the KV cache.
///
/// Buffers grow to the largest step seen and are reused; the step allocates nothing once warm.
public final class Activations: @unchecked Sendable {
    public let config: ModelConfig
    public let keepsLayers: Bool
    public private(set) var rowCapacity = 0
    public private(set) var logitRowCapacity = 0

    private var storage: UnsafeMutablePointer<Float>?
    private var logitStorage: UnsafeMutablePointer<Float>?
    private var layout = Layout()

    /// Float offsets into `storage` (per-layer blocks are `layerStride` apart when kept).
    private struct Layout {
        var layerStride = 0
        var residual = 0, attnIn = 0, attnRstd = 0, q = 0, attnOut = 0, attnLSE = 0, mid = 0, ffnIn = 0, ffnRstd = 0
        var gate = 0, up = 0, act = 0
        var finalResidual = 0, k = 0, v = 0, proj = 0, hidden = 0, finalRstd = 0
        var total = 0
    }

    public init(config: ModelConfig, keepsLayers: Bool = false) {
        self.config = config
        self.keepsLayers = keepsLayers
    }

    deinit {
        storage?.deallocate()
        logitStorage?.deallocate()
    }

    /// Makes room for a step of `rows` rows, `logitRows` of which want logits.
    public func reserve(rows: Int, logitRows: Int) {
        if rows > rowCapacity {
            let capacity = max(rows, rowCapacity + rowCapacity / 2)
            storage?.deallocate()
            layout = Self.layout(config, rows: capacity, keepsLayers: keepsLayers)
            storage = .allocate(capacity: max(layout.total, 1))
            storage!.initialize(repeating: 0, count: max(layout.total, 1))
            rowCapacity = capacity
        }
        if logitRows > logitRowCapacity || logitStorage == nil {
            let capacity = max(logitRows, 1, logitRowCapacity + logitRowCapacity / 2)
            logitStorage?.deallocate()
            // Gathered inputs of the output head, then the logits.
            let count = capacity * (config.hiddenSize + config.vocabSize)
            logitStorage = .allocate(capacity: count)
            logitStorage!.initialize(repeating: 0, count: count)
            logitRowCapacity = capacity
        }
    }

    /// Bytes of forward working memory per row (what `reserve` allocates for a large step,
    /// logits included), so a trainer can say how activation memory grows with batch x context.
    public static func bytesPerRow(_ c: ModelConfig, keepsLayers: Bool) -> Int {
        let rows = 4096
        let floats = layout(c, rows: rows, keepsLayers: keepsLayers).total + rows * (c.hiddenSize + c.vocabSize)
        return floats * MemoryLayout<Float>.stride / rows
    }

    private static func layout(_ c: ModelConfig, rows r: Int, keepsLayers: Bool) -> Layout {
        var l = Layout()
        var at = 0
        func take(_ n: Int) -> Int {
            defer { at += (n + 15) & ~15 }   // 64-byte alignment for every buffer
            return at
        }
        l.residual = take(r * c.hiddenSize)
        l.attnIn = take(r * c.hiddenSize)
        l.attnRstd = take(r)
        l.q = take(r * c.queryDim)
        l.attnOut = take(r * c.queryDim)
        l.attnLSE = take(r * c.headCount)
        l.mid = take(r * c.hiddenSize)
        l.ffnIn = take(r * c.hiddenSize)
        l.ffnRstd = take(r)
        l.gate = take(r * c.intermediateSize)
        l.up = take(r * c.intermediateSize)
        l.act = take(r * c.intermediateSize)
        l.layerStride = keepsLayers ? at : 0
        if keepsLayers { at = at * c.layerCount }
        // Shared by all layers in both modes.
        l.finalResidual = keepsLayers ? take(r * c.hiddenSize) : l.residual
        l.k = take(r * c.kvDim)
        l.v = take(r * c.kvDim)
        l.proj = take(r * c.hiddenSize)
        l.hidden = take(r * c.hiddenSize)
        l.finalRstd = take(r)
        l.total = at
        return l
    }

    @inline(__always)
    private func at(_ offset: Int, layer: Int) -> UnsafeMutablePointer<Float> {
        storage! + offset + layer * layout.layerStride
    }

    /// Input of layer `layer` (`rows x hidden`); `residual(layerCount)` is the last layer's output.
    public func residual(_ layer: Int) -> UnsafeMutablePointer<Float> {
        layer == config.layerCount ? storage! + layout.finalResidual : at(layout.residual, layer: layer)
    }
    /// RMSNorm of the layer input, fed to q/k/v (`rows x hidden`), and its `1/rms` per row.
    public func attentionInput(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.attnIn, layer: layer) }
    public func attentionRstd(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.attnRstd, layer: layer) }
    /// Queries after rotary (`rows x heads*headDim`).
    public func queries(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.q, layer: layer) }
    /// Attention output before the o projection (`rows x heads*headDim`).
    public func attentionOutput(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.attnOut, layer: layer) }
    /// Log of each (row, head) softmax normaliser, which the attention backward needs
    /// (`rows x heads`; written only when `keepsLayers`).
    public func attentionLogSumExp(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.attnLSE, layer: layer) }
    /// Residual after attention (`rows x hidden`).
    public func mid(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.mid, layer: layer) }
    /// RMSNorm of `mid`, fed to gate/up (`rows x hidden`), and its `1/rms` per row.
    public func ffnInput(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.ffnIn, layer: layer) }
    public func ffnRstd(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.ffnRstd, layer: layer) }
    /// Gate and up projections and `silu(gate) * up` (`rows x intermediate` each).
    public func gate(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.gate, layer: layer) }
    public func up(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.up, layer: layer) }
    public func ffnActivation(_ layer: Int) -> UnsafeMutablePointer<Float> { at(layout.act, layer: layer) }

    /// This step's new keys and values before they are scattered into the cache (`rows x kvDim`).
    var keys: UnsafeMutablePointer<Float> { storage! + layout.k }
    var values: UnsafeMutablePointer<Float> { storage! + layout.v }
    /// Output of the o or down projection before it joins the residual (`rows x hidden`).
    var projection: UnsafeMutablePointer<Float> { storage! + layout.proj }

    /// Final-norm hidden states of every row (`rows x hidden`), and the final norm's `1/rms`.
    public var hidden: UnsafeMutablePointer<Float> { storage! + layout.hidden }
    public var finalRstd: UnsafeMutablePointer<Float> { storage! + layout.finalRstd }

    /// Hidden states of the rows that want logits, gathered (`logitRows x hidden`).
    var logitInput: UnsafeMutablePointer<Float> { logitStorage! }
    /// Logits of the rows that want them (`logitRows x vocab`).
    public var logits: UnsafeMutablePointer<Float> { logitStorage! + logitRowCapacity * config.hiddenSize }
}

/// The gradient buffers of `Transformer.backward`: one set shared by every layer (the backward
/// walks layers one at a time), grown to the largest step seen. `keyPlane` / `valuePlane` are one
/// layer's key and value gradients laid out like the KV cache (`[kvHeads][cacheRows][headDim]`),
/// so the attention backward accumulates into them with the forward's own span arithmetic.
final class BackwardBuffers {
    private var storage: UnsafeMutablePointer<Float>?
    private var capacity = 0

    /// The buffers of one backward pass, carved out of the storage.
    struct Views {
        let residual, normalised, gathered, attention, queries, keys, values: UnsafeMutablePointer<Float>
        let gate, up, activation, keyPlane, valuePlane: UnsafeMutablePointer<Float>
    }

    deinit { storage?.deallocate() }

    func reserve(rows r: Int, config c: ModelConfig, cacheRows: Int) -> Views {
        let sizes = [r * c.hiddenSize, r * c.hiddenSize, r * c.hiddenSize, r * c.queryDim, r * c.queryDim,
                     r * c.kvDim, r * c.kvDim, r * c.intermediateSize, r * c.intermediateSize, r * c.intermediateSize,
                     cacheRows * c.kvDim, cacheRows * c.kvDim]
        let padded = sizes.map { ($0 + 15) & ~15 }
        let total = padded.reduce(0, +)
        if total > capacity {
            storage?.deallocate()
            storage = .allocate(capacity: total)
            storage!.initialize(repeating: 0, count: total)
            capacity = total
        }
        var at = storage!
        var p: [UnsafeMutablePointer<Float>] = []
        for n in padded {
            p.append(at)
            at += n
        }
        return Views(residual: p[0], normalised: p[1], gathered: p[2], attention: p[3], queries: p[4], keys: p[5],
                     values: p[6], gate: p[7], up: p[8], activation: p[9], keyPlane: p[10], valuePlane: p[11])
    }
}
