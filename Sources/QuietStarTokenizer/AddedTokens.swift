/// Finds added tokens in text exactly as Hugging Face's `AddedVocabulary::find_matches`:
/// leftmost-longest matching (its Aho-Corasick automaton), matches taken left to right without
/// overlap; a `single_word` token inside a longer word is skipped (and scanning resumes after
/// it, as `find_iter` does); `lstrip`/`rstrip` widen a match over neighbouring whitespace.
struct AddedTokenMatcher: Sendable {
    struct Pattern: Sendable {
        let id: Int32
        let lstrip: Bool
        let rstrip: Bool
        let singleWord: Bool
    }

    /// A piece of the input: text to tokenize further, or an added token's id.
    enum Segment {
        case text(Range<Int>)
        case token(Int32)
    }

    private let patterns: [Pattern]
    /// Byte trie over the patterns: edge (node << 8 | byte) -> child node.
    private let edges: [Int: Int32]
    /// Per trie node: the pattern ending there, or -1.
    private let terminal: [Int32]
    /// Bytes that start some pattern: everything else is skipped without a trie walk.
    private let firstBytes: [Bool]

    init(_ entries: [(bytes: [UInt8], pattern: Pattern)]) {
        var edges: [Int: Int32] = [:]
        var terminal: [Int32] = [-1]
        var firstBytes = [Bool](repeating: false, count: 256)
        var patterns: [Pattern] = []
        for (bytes, pattern) in entries where !bytes.isEmpty {
            firstBytes[Int(bytes[0])] = true
            var node = 0
            for b in bytes {
                let key = node << 8 | Int(b)
                if let child = edges[key] {
                    node = Int(child)
                } else {
                    terminal.append(-1)
                    edges[key] = Int32(terminal.count - 1)
                    node = terminal.count - 1
                }
            }
            if terminal[node] < 0 {   // the first of two equal contents wins (they cannot be equal after validation)
                terminal[node] = Int32(patterns.count)
                patterns.append(pattern)
            }
        }
        self.patterns = patterns
        self.edges = edges
        self.terminal = terminal
        self.firstBytes = firstBytes
    }

    var isEmpty: Bool { patterns.isEmpty }

    /// Appends the segments of `text` (a whole segment when nothing matches; empty text pieces
    /// are dropped, as `PreTokenizedString::split` drops empty splits).
    func split(_ text: UnsafeBufferPointer<UInt8>, into segments: inout [Segment]) {
        let n = text.count
        var startOffset = 0
        var p = 0
        while p < n {
            if !firstBytes[Int(text[p])] { p += 1; continue }
            var node = 0, q = p, matchEnd = -1, matched = -1
            while q < n, let child = edges[node << 8 | Int(text[q])] {
                node = Int(child)
                q += 1
                if terminal[node] >= 0 { matchEnd = q; matched = Int(terminal[node]) }
            }
            if matched < 0 { p += 1; continue }
            let pattern = patterns[matched]
            var start = p, stop = matchEnd
            p = matchEnd
            if pattern.singleWord {
                let startSpace = start == 0 || !Self.endsWithWord(text, start)
                let stopSpace = stop == n || !Self.startsWithWord(text, stop)
                if !startSpace || !stopSpace { continue }
            }
            if pattern.lstrip {
                start = max(Self.whitespaceRunStart(text, before: start), startOffset)
            }
            if pattern.rstrip {
                stop = Self.whitespaceRunEnd(text, from: stop)
            }
            if startOffset < start { segments.append(.text(startOffset..<start)) }
            segments.append(.token(pattern.id))
            startOffset = stop
        }
        if startOffset < n { segments.append(.text(startOffset..<n)) }
    }

    // MARK: Scalars around a match (the text is valid UTF-8)

    /// The scalar that ends just before byte `end`, and where it starts.
    private static func scalar(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> (Unicode.Scalar, Int) {
        var start = end - 1
        while start > 0 && text[start] & 0xC0 == 0x80 { start -= 1 }
        return (decodeScalar(text, at: start).scalar, start)
    }

    private static func endsWithWord(_ text: UnsafeBufferPointer<UInt8>, _ end: Int) -> Bool {
        isWordScalar(scalar(text, before: end).0)
    }

    private static func startsWithWord(_ text: UnsafeBufferPointer<UInt8>, _ start: Int) -> Bool {
        isWordScalar(decodeScalar(text, at: start).scalar)
    }

    /// Start of the whitespace run that ends at `end` (Rust regex `\s*$`: White_Space).
    private static func whitespaceRunStart(_ text: UnsafeBufferPointer<UInt8>, before end: Int) -> Int {
        var i = end
        while i > 0 {
            let (s, start) = scalar(text, before: i)
            if !s.properties.isWhitespace { break }
            i = start
        }
        return i
    }

    /// End of the whitespace run that starts at `start` (Rust regex `^\s*`).
    private static func whitespaceRunEnd(_ text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var i = start
        while i < text.count {
            let (s, length) = decodeScalar(text, at: i)
            if !s.properties.isWhitespace { break }
            i += length
        }
        return i
    }
}

/// Decodes the scalar starting at `i` of valid UTF-8 (every buffer we scan comes from a String).
@inline(__always)
func decodeScalar(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (scalar: Unicode.Scalar, length: Int) {
    let b0 = UInt32(p[i])
    if b0 < 0x80 { return (Unicode.Scalar(b0)!, 1) }
    if b0 < 0xE0 { return (Unicode.Scalar((b0 & 0x1F) << 6 | UInt32(p[i + 1]) & 0x3F)!, 2) }
    if b0 < 0xF0 {
        return (Unicode.Scalar((b0 & 0x0F) << 12 | (UInt32(p[i + 1]) & 0x3F) << 6 | UInt32(p[i + 2]) & 0x3F)!, 3)
    }
    let v = (b0 & 0x07) << 18 | (UInt32(p[i + 1]) & 0x3F) << 12 | (UInt32(p[i + 2]) & 0x3F) << 6 | UInt32(p[i + 3]) & 0x3F
    return (Unicode.Scalar(v)!, 4)
}
