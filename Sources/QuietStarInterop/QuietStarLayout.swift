import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarJSON

/// The published Quiet-STaR checkpoint layout and how it maps onto the format.
///
/// The reference implementation is a patched Mistral. On top of the base model it has:
/// - `start_embedding`, `end_embedding` `[2, hidden]`: only row 0 is an input embedding, fed as
///   `row0 * embedding_scale` (scale 100, which is how the paper's "gradient weight 1e2" is
///   realised under Adam). Row 1 is only read by an unused reparameterisation option.
/// - `talk_head.0.{0,2,4}`: the mixing head `Linear(2H,H), ReLU, Linear(H,H), ReLU, Linear(H,1)`.
///
/// We store the *effective* vectors (`row0 * 100`) as `thought.start_embedding` /
/// `thought.end_embedding` so no reader has to know the trick, and the head as `mixing_head.*`.
/// Export divides by the scale again, picking a row 0 whose f32 product with 100 is exactly the
/// stored vector whenever one exists. In binades where 100 * ulp(x) < ulp(100 x) several f32
/// values share one product, so a Hugging Face -> .qstar -> Hugging Face trip can move row 0 by
/// one ulp; the effective vector, which is all the model computes with, is unchanged.
/// Row 1 is written as the reference initialises it: `log(std(embed, dim=0) * 1e-2 / 100)`.
public enum QuietStarLayout {
    /// The reference's `embedding_scale`.
    public static let embeddingScale: Double = 100
    /// The reference's `thought_init_std_scale`, used for row 1 on export.
    public static let thoughtInitStdScale: Double = 1e-2
    public static let startThoughtToken = "<|startthought|>"
    public static let endThoughtToken = "<|endthought|>"
    /// Content tokens per thought when the caller does not say: the published
    /// `quietstar-8-ahead` model runs n_ahead = 8 forward passes = base + start + 5 + end.
    public static let defaultThoughtTokens: UInt64 = 5

    public enum Role: Sendable, Equatable {
        /// `[2, H]` in Hugging Face, `[H]` (row 0 times the scale) here.
        case thoughtEmbedding
        /// Same shape and values on both sides.
        case plain
    }

    public struct Entry: Sendable, Equatable {
        public var hfName: String
        public var qstarName: String
        public var hfShape: [UInt64]
        public var qstarShape: [UInt64]
        public var role: Role
    }

    /// The extra tensors, in the order we write them.
    public static func entries(hiddenSize h: UInt64) -> [Entry] {
        [
            Entry(hfName: "start_embedding", qstarName: TensorNames.Thought.startEmbedding.rawValue, hfShape: [2, h], qstarShape: [h], role: .thoughtEmbedding),
            Entry(hfName: "end_embedding", qstarName: TensorNames.Thought.endEmbedding.rawValue, hfShape: [2, h], qstarShape: [h], role: .thoughtEmbedding),
            Entry(hfName: "talk_head.0.0.weight", qstarName: TensorNames.Thought.mixing0Weight.rawValue, hfShape: [h, 2 * h], qstarShape: [h, 2 * h], role: .plain),
            Entry(hfName: "talk_head.0.0.bias", qstarName: TensorNames.Thought.mixing0Bias.rawValue, hfShape: [h], qstarShape: [h], role: .plain),
            Entry(hfName: "talk_head.0.2.weight", qstarName: TensorNames.Thought.mixing1Weight.rawValue, hfShape: [h, h], qstarShape: [h, h], role: .plain),
            Entry(hfName: "talk_head.0.2.bias", qstarName: TensorNames.Thought.mixing1Bias.rawValue, hfShape: [h], qstarShape: [h], role: .plain),
            Entry(hfName: "talk_head.0.4.weight", qstarName: TensorNames.Thought.mixing2Weight.rawValue, hfShape: [1, h], qstarShape: [1, h], role: .plain),
        ]
    }

    /// Whether a checkpoint with these tensor names is in the Quiet-STaR layout: all of the
    /// extra tensors, or none. A partial set is an error naming what is missing, because
    /// converting it as a plain model would silently drop trained parameters.
    public static func detect(names: Set<String>, hiddenSize: UInt64, path: String) throws(InteropError) -> Bool {
        try allOrNone(entries(hiddenSize: hiddenSize).map(\.hfName), in: names, path: path) { present in
            "looks like a Quiet-STaR checkpoint (has \(present))"
        }
    }

    /// Whether a `.qstar` file holds thought parameters: all of them, or none (else an error).
    public static func detect(qstarNames names: Set<String>, hiddenSize: UInt64, path: String) throws(InteropError) -> Bool {
        try allOrNone(entries(hiddenSize: hiddenSize).map(\.qstarName), in: names, path: path) { present in
            "has thought parameters \(present)"
        }
    }

    /// True when `names` has every one of `all`, false when it has none; otherwise an error
    /// naming the first missing tensor: `<what(present)> but lacks <missing>`.
    private static func allOrNone(_ all: [String], in names: Set<String>, path: String,
                                  what: (String) -> String) throws(InteropError) -> Bool {
        let present = all.filter { names.contains($0) }
        if present.isEmpty { return false }
        if present.count == all.count { return true }
        let missing = all.filter { !names.contains($0) }
        throw InteropError(.invalidInput, path: path, field: missing[0],
                           "\(what(present.joined(separator: ", "))) but lacks \(missing.joined(separator: ", "))")
    }

    /// The `quietstar.*` metadata of a converted Quiet-STaR checkpoint.
    public static func metadataEntries(startThoughtID: UInt64, endThoughtID: UInt64, thoughtTokens: UInt64)
        -> [(key: String, value: MetadataValue)]
    {
        QuietStarSettings(startTokenId: Int32(startThoughtID), endTokenId: Int32(endThoughtID),
                          thoughtTokens: Int(thoughtTokens), embeddingScale: embeddingScale,
                          mixingHeadOutput: .identity).metadataEntries
    }

    /// Checks that a `.qstar` file's mixing head is the one the published layout can express.
    public static func checkExportable(_ metadata: Metadata, path: String) throws(InteropError) {
        let expected: [(String, MetadataValue)] = [
            ("quietstar.mixing_head.hidden_layers", .uint(2)),
            ("quietstar.mixing_head.output", .string("identity")),
            ("quietstar.mixing_head.input", .string("concat_base_thought")),
        ]
        for (key, value) in expected {
            if let actual = metadata[key], actual != value {
                throw InteropError(.unsupported, path: path, field: key,
                                   "\(actual) cannot be expressed in the published Quiet-STaR layout (needs \(value))")
            }
        }
    }

    /// The Quiet-STaR settings written into an exported `config.json`: the values of the
    /// reference `configuration_mistral.py` that describe the head we store.
    public static var configEntries: [(key: String, value: JSONValue)] {
        HFConfig.quietStarHeadKeys.compactMap { item in
            item.supported.map { (item.key, JSONValue.bool($0)) }
        }
    }

    /// Checks a `config.json`'s Quiet-STaR head settings against what we can map.
    static func checkConfig(_ json: JSONValue, path: String) throws(InteropError) {
        for (key, supported) in HFConfig.quietStarHeadKeys {
            guard let supported, let v = json[key], !v.isNull else { continue }
            guard let b = v.boolValue else {
                throw InteropError(.invalidInput, path: path, field: key, "must be true or false, found \(v.kindName)")
            }
            guard b == supported else {
                throw InteropError(.unsupported, path: path, field: key,
                                   "\(b) selects a talk-head variant the format does not hold (supported: \(supported))")
            }
        }
    }

    /// Row 1 of the exported `[2, H]` thought parameters: the reference initialisation,
    /// `log(std(embed_tokens, dim=0, unbiased) * thought_init_std_scale / embedding_scale)`,
    /// computed in double precision from the embedding table (read a chunk of rows at a time).
    static func referenceRowOne(vocab: Int, hidden: Int,
                                readRows: (_ rows: Range<Int>, _ into: UnsafeMutableBufferPointer<Float>) throws(InteropError) -> Void)
        throws(InteropError) -> [Float]
    {
        // Welford's update per column: one pass, stable.
        var mean = [Double](repeating: 0, count: hidden)
        var m2 = [Double](repeating: 0, count: hidden)
        let rowsPerChunk = max(1, (1 << 20) / max(hidden, 1))
        let chunk = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowsPerChunk * hidden)
        defer { chunk.deallocate() }
        var n = 0.0
        var row = 0
        while row < vocab {
            let rows = row..<min(vocab, row + rowsPerChunk)
            let view = UnsafeMutableBufferPointer(rebasing: chunk[0..<(rows.count * hidden)])
            try readRows(rows, view)
            for r in 0..<rows.count {
                n += 1
                for c in 0..<hidden {
                    let x = Double(view[r * hidden + c])
                    let delta = x - mean[c]
                    mean[c] += delta / n
                    m2[c] += delta * (x - mean[c])
                }
            }
            row = rows.upperBound
        }
        return (0..<hidden).map { c in
            let std = vocab > 1 ? (m2[c] / Double(vocab - 1)).squareRoot() : 0
            return Float(log(std * thoughtInitStdScale / embeddingScale))
        }
    }
}
