import QuietStarCheckpoint
import QuietStarFormat

/// What the summary and the JSON report say about a checkpoint beyond its raw index: metadata
/// grouped by what it describes, and parameter counts. Both outputs use this one derivation so
/// they can never disagree.
struct Facts {
    /// A titled slice of the metadata, in file order.
    struct Group {
        var title: String
        var key: String
        var entries: [(key: String, value: MetadataValue)]
    }

    var architecture: String?
    var groups: [Group]
    /// Model weights: every tensor except optimizer state (thought embeddings and the mixing
    /// head included: they are trained parameters like any other).
    var parameterTensors = 0
    var parameters: UInt64 = 0
    /// `optimizer.*` tensors (AdamW moments and the like), reported apart from the model.
    var optimizerTensors = 0
    var optimizerElements: UInt64 = 0
    /// `thought.*` and `mixing_head.*` tensors, a subset of the parameters.
    var thoughtTensors = 0
    var thoughtParameters: UInt64 = 0
    var storedBytes: UInt64 = 0
    /// nil when some tensor uses a dtype this reader does not know (newer minor version).
    var logicalBytes: UInt64? = 0

    static let optimizerPrefix = TrainingState.optimizerTensorPrefix
    static let thoughtPrefixes = TensorNames.thoughtPrefixes

    init(_ file: QStarFile) {
        let m = file.metadata
        if case .string(let a) = m["general.architecture"] { architecture = a }
        // Keys group by prefix, so metadata written by a newer tool still lands somewhere sensible.
        let archPrefix = architecture.map { $0 + "." }
        func groupKey(_ key: String) -> String {
            if key.hasPrefix("general.") { return "model" }
            if let archPrefix, key.hasPrefix(archPrefix) { return "model" }
            if key.hasPrefix("tokenizer.") { return "tokenizer" }
            if key.hasPrefix("quietstar.") || key.hasPrefix("thought.") { return "thoughts" }
            if key.hasPrefix("provenance.") { return "provenance" }
            if key.hasPrefix("train.") || key.hasPrefix("optimizer.") { return "training" }
            return "other"
        }
        groups = [Group(title: "Model", key: "model", entries: []),
                  Group(title: "Tokenizer", key: "tokenizer", entries: []),
                  Group(title: "Thoughts", key: "thoughts", entries: []),
                  Group(title: "Provenance", key: "provenance", entries: []),
                  Group(title: "Training", key: "training", entries: []),
                  Group(title: "Other metadata", key: "other", entries: [])]
        for entry in m.entries {
            let k = groupKey(entry.key)
            groups[groups.firstIndex { $0.key == k }!].entries.append(entry)
        }

        for t in file.tensors {
            storedBytes &+= t.storedLength
            if let l = t.logicalByteCount, let sum = logicalBytes {
                let (s, o) = sum.addingReportingOverflow(l)
                logicalBytes = o ? nil : s
            } else {
                logicalBytes = nil
            }
            if t.name.hasPrefix(Facts.optimizerPrefix) {
                optimizerTensors += 1
                optimizerElements = saturating(optimizerElements, t.elementCount)
                continue
            }
            parameterTensors += 1
            parameters = saturating(parameters, t.elementCount)
            if Facts.thoughtPrefixes.contains(where: { t.name.hasPrefix($0) }) {
                thoughtTensors += 1
                thoughtParameters = saturating(thoughtParameters, t.elementCount)
            }
        }
    }

    func group(_ key: String) -> Group { groups.first { $0.key == key }! }
}

/// Element counts of a newer minor's unknown dtypes are not bounded by the file size, so their
/// sum could wrap; it sticks at UInt64.max instead.
private func saturating(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let (s, o) = a.addingReportingOverflow(b)
    return o ? .max : s
}
