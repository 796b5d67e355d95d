import QuietStarCLI
import QuietStarFormat

/// The human summary: File / Model / Tokenizer / Thoughts / Provenance / Training / Other
/// metadata / Tensors, each a block of aligned lines.
enum Summary {
    static func render(_ file: QStarFile, path: String, fullMetadata: Bool) -> String {
        let facts = Facts(file)
        var out: [String] = []

        func section(_ title: String, _ rows: [[String]], empty: String? = nil) {
            if rows.isEmpty && empty == nil { return }
            if !out.isEmpty { out.append("") }
            out.append(title)
            if rows.isEmpty {
                out.append("  " + empty!)
            } else {
                out += Human.table(rows)
            }
        }
        func metadataRows(_ group: Facts.Group) -> [[String]] {
            group.entries.map { [DisplayEscaping.escape($0.key), Human.value($0.value, full: fullMetadata)] }
        }

        let h = file.header
        let decoded = facts.logicalBytes.map { ", \(Human.bytes($0)) decoded" } ?? ""
        section("File", [
            ["path", DisplayEscaping.escape(path)],
            ["size", "\(Human.bytes(file.fileLength)) (\(Human.grouped(file.fileLength)) bytes)"],
            ["format", "qstar \(file.version)" + (isNewerMinor(file) ? " (newer than this reader's \(QStarFile.supportedVersion): "
                                                     + "unknown entries are listed, not decoded)" : "")],
            ["tensors", "\(Human.grouped(UInt64(file.tensors.count))), \(Human.bytes(facts.storedBytes)) stored\(decoded)"],
            ["metadata", Human.plural(file.metadata.count, "key")],
            ["index", "\(Human.bytes(h.indexLength)) at byte \(h.indexOffset), xxh64 \(hex(h.indexChecksum))"],
        ])

        var model: [[String]] = [["architecture", facts.architecture.map { DisplayEscaping.escape($0) } ?? "(not recorded)"]]
        let short = facts.parameters >= 1000 ? " (\(Human.count(facts.parameters)))" : ""
        model.append(["parameters", "\(Human.grouped(facts.parameters))\(short) in \(Human.plural(facts.parameterTensors, "tensor"))"])
        if facts.optimizerTensors > 0 {
            model.append(["optimizer state", "\(Human.grouped(facts.optimizerElements)) values in "
                          + "\(Human.plural(facts.optimizerTensors, "optimizer.* tensor")) (not counted as parameters)"])
        }
        // general.architecture is the "architecture" line above.
        var modelKeys = facts.group("model")
        modelKeys.entries.removeAll { $0.key == "general.architecture" && facts.architecture != nil }
        section("Model", model + metadataRows(modelKeys))
        section("Tokenizer", metadataRows(facts.group("tokenizer")), empty: "(no tokenizer.* metadata)")
        var thoughts = metadataRows(facts.group("thoughts"))
        if facts.thoughtTensors > 0 {
            thoughts.append(["thought tensors", "\(Human.plural(facts.thoughtTensors, "thought.* / mixing_head.* tensor")), "
                             + "\(Human.grouped(facts.thoughtParameters)) parameters"])
        }
        section("Thoughts", thoughts, empty: "(none: no quietstar.* metadata or thought tensors)")
        section("Provenance", metadataRows(facts.group("provenance")), empty: "(no provenance.* metadata)")
        section("Training", metadataRows(facts.group("training")))
        section("Other metadata", metadataRows(facts.group("other")))

        if !out.isEmpty { out.append("") }
        out.append("Tensors")
        if file.tensors.isEmpty {
            out.append("  (none)")
        } else {
            var rows = [["name", "dtype", "shape", "encoding", "stored"]]
            for t in file.tensors {
                var encoding = t.encodingName
                if t.encoding == .zstd, let logical = t.logicalByteCount, logical > 0 {
                    let percent = Double(t.storedLength) / Double(logical) * 100
                    encoding += " (\(Human.fixed(percent, digits: percent < 10 ? 1 : 0))%)"
                }
                rows.append([DisplayEscaping.escape(t.name), t.dtypeName, Human.shape(t.shape), encoding,
                             Human.bytes(t.storedLength)])
            }
            out += Human.table(rows, rightAligned: [4])
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func isNewerMinor(_ file: QStarFile) -> Bool {
        file.version.major == QStarFile.supportedVersion.major && file.version.minor > QStarFile.supportedVersion.minor
    }
}

/// "0x0123456789ABCDEF": checksums print as 16 hex digits.
func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 16 - s.count) + s
}
