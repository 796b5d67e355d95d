import QuietStarCheckpoint
import QuietStarFormat
import QuietStarGGUF

/// The thought parameters of a Quiet-STaR model as `convertToGGUF` stores them (GGUF readers
/// refuse unexpected tensors, so they are metadata): the `quietstar.*` settings verbatim, and
/// each thought tensor as `quietstar.tensor.<name>` (f32 values) with `.shape`. Read back here,
/// so a Quiet-STaR model survives `to-gguf` then `from-gguf`.
enum GGUFThoughts {
    /// Keys under `quietstar.` that are not settings (the exporter's other notes to itself).
    static func isSetting(_ key: String) -> Bool {
        key.hasPrefix("quietstar.") && !key.hasPrefix("quietstar.tensor.") && !key.hasPrefix("quietstar.tokenizer.")
            && key != "quietstar.sliding_window"
    }

    /// The settings and tensors, or nil when the file has none; all or nothing.
    static func read(_ layout: GGUFLayout, config: ModelConfig, path: String)
        throws(InteropError) -> (metadata: [(key: String, value: MetadataValue)], tensors: [(name: String, shape: [UInt64], values: [Float])])? {
        let settings = layout.metadata.filter { isSetting($0.key) }
        let stored = TensorNames.Thought.allCases.filter { layout["quietstar.tensor.\($0.rawValue)"] != nil }
        guard !settings.isEmpty || !stored.isEmpty else { return nil }
        var metadata: [(key: String, value: MetadataValue)] = []
        for (key, value) in settings {
            guard let v = MetadataValue(gguf: value) else {
                throw InteropError(.invalidInput, path: path, field: key, "\(value.type) is not a type a quietstar.* setting has")
            }
            metadata.append((key, v))
        }
        do { _ = try QuietStarSettings(metadata: Metadata(metadata), vocabSize: config.vocabSize) } catch {
            throw InteropError(.invalidInput, path: path, field: error.key, error.message)
        }
        var tensors: [(name: String, shape: [UInt64], values: [Float])] = []
        for thought in TensorNames.Thought.allCases {
            let key = "quietstar.tensor.\(thought.rawValue)"
            let shape = thought.shape(config).map { UInt64($0) }
            guard case let .array(.float32, items)? = layout[key] else {
                throw InteropError(.invalidInput, path: path, field: key, "missing, or not an array of float32 (a Quiet-STaR model needs every thought tensor)")
            }
            guard layout[key + ".shape"]?.arrayValue?.compactMap(\.unsignedValue) == shape, items.count == shape.reduce(1, *) else {
                throw InteropError(.invalidInput, path: path, field: key + ".shape", "must be \(shape) for hidden size \(config.hiddenSize)")
            }
            tensors.append((thought.rawValue, shape, items.map { v -> Float in if case let .float32(f) = v { return f }; return .nan }))
        }
        return (metadata, tensors)
    }
}
