/// The split regexes of GPT-2, Llama-3 and Qwen2 as hand-written scanners over Unicode scalars.
///
/// Each regex is an alternation tried left to right at the current position (Oniguruma's
/// leftmost-first semantics, as Hugging Face runs them), and every character is matched by
/// some alternative, so the input is cut into consecutive words with no gaps. A scanner looks at
/// the class of the current character (ScalarClass.swift) and returns where the alternative that
/// the regex engine would pick ends, including its backtracking:
///
/// - `\s+(?!\S)`: a whitespace run followed by a non-space loses its last character (the
///   lookahead needs the next character to be whitespace or the end), so "a   b" gives
///   "a", "  ", " b"; a single space before a non-space falls through to `\s+`.
/// - `\s*[\r\n]+` (Llama-3, Qwen2): the whitespace run up to and including its last newline.
/// - `(?i:'s|...)`: ASCII case-insensitive, plus U+017F LATIN SMALL LETTER LONG S, which
///   Unicode case folding equates with "s".
struct SplitScanner {
    /// One decoded character: its value, its class, and the byte offset where it starts.
    struct Character {
        var scalar: UInt32
        var offset: Int32
        var cls: ScalarClass
    }

    /// The characters of the text being split, plus an end marker holding the text's length.
    private var chars: [Character] = []
    /// Byte offsets where the words of the last `split` end.
    private(set) var wordEnds: [Int32] = []

    /// Cuts `text` (valid UTF-8) into words; their byte ends are left in `wordEnds`.
    mutating func split(_ text: UnsafeBufferPointer<UInt8>, pattern: TokenizerSpec.SplitPattern) {
        decode(text)
        wordEnds.removeAll(keepingCapacity: true)
        let m = chars.count - 1
        var k = 0
        while k < m {
            switch pattern {
            case .gpt2: k = gpt2(k, m)
            case .llama3: k = llama3(k, m, maxDigits: 3)
            case .qwen2: k = llama3(k, m, maxDigits: 1)
            case .gpt2Digits:
                // Digits(individual_digits) first: each digit is a piece of its own, and the
                // GPT-2 regex runs on each piece between digits as if it were the whole text.
                if cls(k) == .number {
                    k += 1
                } else {
                    k = gpt2(k, nextNumber(k, m))
                }
            }
            wordEnds.append(chars[k].offset)
        }
    }

    /// Where the next `\p{N}` character at or after `k` is, or `m`.
    private func nextNumber(_ k: Int, _ m: Int) -> Int {
        var j = k
        while j < m && chars[j].cls != .number { j += 1 }
        return j
    }

    private mutating func decode(_ text: UnsafeBufferPointer<UInt8>) {
        chars.removeAll(keepingCapacity: true)
        chars.reserveCapacity(text.count + 1)
        ScalarClass.basicPlane.withUnsafeBufferPointer { plane in
            var i = 0
            while i < text.count {
                let b = text[i]
                if b < 0x80 {
                    chars.append(Character(scalar: UInt32(b), offset: Int32(i), cls: plane[Int(b)]))
                    i += 1
                } else {
                    let (s, length) = decodeScalar(text, at: i)
                    let cls = s.value < 0x10000 ? plane[Int(s.value)] : ScalarClass.compute(s.value)
                    chars.append(Character(scalar: s.value, offset: Int32(i), cls: cls))
                    i += length
                }
            }
        }
        chars.append(Character(scalar: 0, offset: Int32(text.count), cls: .other))
    }

    @inline(__always)
    private func cls(_ k: Int) -> ScalarClass { chars[k].cls }

    /// End of the run of characters of class `c` starting at `k`.
    @inline(__always)
    private func run(_ c: ScalarClass, _ k: Int, _ m: Int) -> Int {
        var j = k
        while j < m && chars[j].cls == c { j += 1 }
        return j
    }

    @inline(__always)
    private func whitespaceRun(_ k: Int, _ m: Int) -> Int {
        var j = k
        while j < m && chars[j].cls.isWhitespace { j += 1 }
        return j
    }

    /// `\s+(?!\S)|\s+` at a whitespace character.
    @inline(__always)
    private func trailingWhitespace(_ k: Int, _ end: Int, _ m: Int) -> Int {
        end == m || end - k < 2 ? end : end - 1
    }

    /// The contraction at `k` (an apostrophe), or nil. Case-insensitive for Llama-3/Qwen2.
    @inline(__always)
    private func contraction(_ k: Int, _ m: Int, caseInsensitive: Bool) -> Int? {
        guard k + 1 < m else { return nil }
        func letter(_ v: UInt32) -> UInt32 {
            guard caseInsensitive else { return v }
            if v >= 0x41 && v <= 0x5A { return v + 0x20 }
            return v == 0x17F ? 0x73 : v   // ſ folds to s
        }
        let a = letter(chars[k + 1].scalar)
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return k + 2   // 's 't 'm 'd
        case 0x72, 0x76, 0x6C:                       // 're 've 'll
            guard k + 2 < m else { return nil }
            let b = letter(chars[k + 2].scalar)
            return (a == 0x6C ? b == 0x6C : b == 0x65) ? k + 3 : nil
        default: return nil
        }
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    private func gpt2(_ k: Int, _ m: Int) -> Int {
        if chars[k].scalar == 0x27, let end = contraction(k, m, caseInsensitive: false) { return end }
        var c = cls(k)
        var from = k
        if c == .space && k + 1 < m, case let next = cls(k + 1), next == .letter || next == .number || next == .other {
            c = next
            from = k + 1
        }
        switch c {
        case .letter, .number, .other: return run(c, from, m)
        default: return trailingWhitespace(k, whitespaceRun(k, m), m)
        }
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (Qwen2: `\p{N}` instead of `\p{N}{1,3}`).
    private func llama3(_ k: Int, _ m: Int, maxDigits: Int) -> Int {
        if chars[k].scalar == 0x27, let end = contraction(k, m, caseInsensitive: true) { return end }
        let c = cls(k)
        if c == .letter { return run(.letter, k, m) }
        if c != .newline && c != .number && k + 1 < m && cls(k + 1) == .letter { return run(.letter, k + 1, m) }
        if c == .number { return min(run(.number, k, m), k + maxDigits) }
        if c == .other { return run(.newline, run(.other, k, m), m) }
        if c == .space && k + 1 < m && cls(k + 1) == .other { return run(.newline, run(.other, k + 1, m), m) }
        // Whitespace: up to the run's last newline, else the \s+(?!\S) rule.
        let end = whitespaceRun(k, m)
        var j = end - 1
        while j >= k {
            if cls(j) == .newline { return j + 1 }
            j -= 1
        }
        return trailingWhitespace(k, end, m)
    }
}
