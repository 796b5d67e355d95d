import QuietStarCLI
import QuietStarFormat
import QuietStarJSON

/// `--tensor NAME [--limit N]`: one tensor's directory entry and its first N values, decoded
/// to Float for floating dtypes and printed as integers for integer dtypes. Values are decoded
/// and written in chunks, so `--limit 0` on a multi-gigabyte tensor runs in bounded memory.
enum TensorValues {
    /// Elements decoded per step: a multiple of the q8_0 block so every chunk is whole blocks.
    static let chunk = 4096
    static let perLine = 8

    enum Failure: Error {
        /// The tensor's stored bytes fail their checksum or do not decode (exit status 3).
        case damaged(QStarError)
        /// A newer minor's dtype or encoding (exit status 65).
        case unsupported(QStarError)
    }

    /// Writes the tensor; returns the checksum error if the stored bytes are damaged but still
    /// viewable (a raw tensor: its values are printed anyway, marked as damaged).
    static func print(_ file: QStarFile, _ info: TensorInfo, limit: Int, json: Bool, to out: Output)
        throws -> QStarError?
    {
        // A raw view does not check the checksum, so check it here; a damaged raw tensor is
        // still shown. Viewing a zstd tensor checks its checksum and decodes it, exactly once.
        var damage: QStarError?
        if info.encoding == .raw {
            do { try file.verify(info) } catch { damage = error }
        }
        let view: TensorView
        do { view = try file.tensor(info) } catch {
            throw error.kind == .unsupported ? Failure.unsupported(error) : Failure.damaged(error)
        }
        let shown = limit == 0 ? view.elementCount : min(limit, view.elementCount)

        if json {
            let members: [(key: String, value: JSONValue)] = [
                ("name", .string(info.name)), ("dtype", .string(info.dtypeName)),
                ("shape", .array(info.shape.map { .integer($0) })), ("encoding", .string(info.encodingName)),
                ("offset", .integer(info.offset)), ("stored_bytes", .integer(info.storedLength)),
                ("elements", .integer(info.elementCount)), ("checksum", .string(hex(info.checksum))),
                ("checksum_ok", .bool(damage == nil)), ("shown", .integer(shown)),
            ]
            try out.write("{\n")
            for (key, value) in members {
                try out.write("  \(JSONWriter.quoted(key)): \(JSONLayout.render(value, indent: 1)),\n")
            }
            try out.write("  \"values\": [")
            try values(view, count: shown, json: true) { (first, texts) throws(Output.WriteError) in
                for (k, text) in texts.enumerated() {
                    let i = first + k
                    try out.write((i == 0 ? "" : ",") + (i % 16 == 0 ? "\n    " : " ") + text)
                }
            }
            try out.write(shown > 0 ? "\n  ]\n}\n" : "]\n}\n")
            return damage
        }

        let rows = [
            ["tensor", DisplayEscaping.escape(info.name)],
            ["dtype", info.dtypeName],
            ["shape", "\(Human.shape(info.shape)) (\(Human.plural(view.elementCount, "element")))"],
            ["stored", "\(info.encodingName), \(Human.bytes(info.storedLength)) at byte \(info.offset), xxh64 \(hex(info.checksum))"],
            ["checksum", damage == nil ? "ok" : "MISMATCH: the values below come from damaged data"],
            ["values", shown == view.elementCount ? "all \(Human.grouped(UInt64(shown)))"
                                                   : "first \(Human.grouped(UInt64(shown))) of \(Human.grouped(UInt64(view.elementCount))) (--limit 0 shows all)"],
        ]
        for line in Human.table(rows, indent: "") { try out.line(line) }
        // "[index]" then 8 values per line, right-aligned to the widest value of the chunk.
        let indexWidth = String(max(shown - 1, 0)).count + 2
        try values(view, count: shown, json: false) { (first, texts) throws(Output.WriteError) in
            let width = texts.map(\.count).max() ?? 0
            for lineStart in stride(from: 0, to: texts.count, by: perLine) {
                let label = "[\(first + lineStart)]"
                var line = String(repeating: " ", count: indexWidth - label.count) + label
                for v in texts[lineStart..<min(lineStart + perLine, texts.count)] {
                    line += "  " + String(repeating: " ", count: width - v.count) + v
                }
                try out.line(line)
            }
        }
        return damage
    }

    /// Calls `emit(first, texts)` for elements 0..<count, `chunk` elements at a time.
    private static func values(_ view: TensorView, count: Int, json: Bool,
                               _ emit: (Int, [String]) throws(Output.WriteError) -> Void) throws {
        var scratch = [Float](repeating: 0, count: chunk)
        var texts: [String] = []
        texts.reserveCapacity(chunk)
        var start = 0
        while start < count {
            let end = min(start + chunk, count)
            texts.removeAll(keepingCapacity: true)
            switch view.dtype {
            case .i32:
                for i in start..<end { texts.append(String(Int32(littleEndian: load(view, i, Int32.self)))) }
            case .i64:
                for i in start..<end { texts.append(String(Int64(littleEndian: load(view, i, Int64.self)))) }
            case .u8:
                for i in start..<end { texts.append(String(view.bytes[i])) }
            case .f32, .f16, .bf16, .q8_0:
                // q8_0 decodes whole 32-element blocks: round the range up (it stays inside the
                // tensor, whose element count is a multiple of 32) and show only what was asked.
                let block = view.dtype == .q8_0 ? DTypeCodec.q8BlockSize : 1
                let decodeEnd = min((end + block - 1) / block * block, view.elementCount)
                try scratch.withUnsafeMutableBufferPointer { buffer in
                    let dst = UnsafeMutableBufferPointer(rebasing: buffer[0..<(decodeEnd - start)])
                    try view.decodeFloat32(elements: start..<decodeEnd, into: dst)
                }
                for i in start..<end {
                    let x = scratch[i - start]
                    texts.append(json ? JSONLayout.render(JSONLayout.number(x)) : String(x))
                }
            }
            try emit(start, texts)
            start = end
        }
    }

    private static func load<T: FixedWidthInteger>(_ view: TensorView, _ i: Int, _: T.Type) -> T {
        view.bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self)
    }

    /// Up to five tensor names closest to `name`: those containing it (or contained in it)
    /// first, then by edit distance, for the "no tensor named ..." message.
    static func closeMatches(to name: String, in names: [String]) -> [String] {
        let target = Array(name.unicodeScalars)
        var scored: [(Int, String)] = []
        for candidate in names {
            let c = Array(candidate.unicodeScalars)
            let contains = candidate.contains(name) || (name.count >= 3 && name.contains(candidate))
            let d = contains ? 0 : editDistance(target, c, cap: max(3, target.count / 3) + 1)
            if contains || d <= max(3, target.count / 3) { scored.append((d, candidate)) }
        }
        scored.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        return scored.prefix(5).map(\.1)
    }

    /// Levenshtein distance, giving up (returning `cap`) once every path exceeds `cap`.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], cap: Int) -> Int {
        if abs(a.count - b.count) >= cap { return cap }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            var rowMin = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                rowMin = min(rowMin, current[j])
            }
            if rowMin >= cap { return cap }
            swap(&previous, &current)
        }
        return min(previous[b.count], cap)
    }
}
