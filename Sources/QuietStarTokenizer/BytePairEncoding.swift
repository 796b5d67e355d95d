/// Byte-pair encoding of one word, as Hugging Face's `BPE::merge_word` + `Word::merge_all`.
///
/// Symbols start as the word's characters (byte-level: its bytes); a character missing from the
/// vocabulary becomes its `<0xAB>` byte tokens (byte fallback) or the unknown token (fused with
/// neighbouring unknowns if `fuse_unk`), or is dropped when there is neither. Then the adjacent
/// pair with the lowest merge rank is merged, leftmost first on ties, until no pair has a rule.
/// Hugging Face does this with a heap of (rank, position) and skips stale entries; because a
/// rank names exactly one pair and distinct strings have distinct ids, that is the same as
/// always merging the current lowest-rank pair, which short words do by a direct scan.
extension Tokenizer {
    /// Words up to this many bytes are cached (Hugging Face caches below 256 characters).
    static let maxCachedWordBytes = 255

    /// Appends the ids of `word`.
    @inline(__always)
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], _ s: inout MergeScratch) {
        let n = word.count
        if n == 0 { return }
        if spec.ignoreMerges {
            let e = vocabulary.find(UnsafeRawBufferPointer(word))
            if e >= 0 { ids.append(vocabularyIds[e]); return }
        }
        if byteLevelWords && n == 1 && byteSymbolIds[Int(word[0])] >= 0 {
            ids.append(byteSymbolIds[Int(word[0])])
            return
        }
        let cached = n <= Self.maxCachedWordBytes
        if cached && cache.withLock({ $0.append(word, to: &ids) }) { return }

        s.symbols.removeAll(keepingCapacity: true)
        if byteLevelWords { byteSymbols(word, &s.symbols) } else { characterSymbols(word, &s.symbols) }
        if s.symbols.count > 1 {
            if s.symbols.count <= 32 { mergeShort(&s) } else { mergeLong(&s) }
        }
        ids.append(contentsOf: s.symbols)
        if cached {
            let symbols = s.symbols
            cache.withLock { $0.insert(word, symbols) }
        }
    }

    /// Initial symbols of a byte-level word: one per byte.
    private func byteSymbols(_ word: UnsafeBufferPointer<UInt8>, _ symbols: inout [Int32]) {
        var unknown = UnknownRun()
        for b in word {
            let id = byteSymbolIds[Int(b)]
            if id >= 0 {
                unknown.flush(into: &symbols)
                symbols.append(id)
            } else {
                // Hugging Face sees the byte's alphabet character; its fallback bytes are that
                // character's UTF-8, not the byte itself.
                let utf8 = Array(String(ByteLevelAlphabet.scalarForByte[Int(b)]).utf8)
                utf8.withUnsafeBufferPointer { missing($0, &unknown, &symbols) }
            }
        }
        unknown.flush(into: &symbols)
    }

    /// Initial symbols of a UTF-8 word: one per character.
    private func characterSymbols(_ word: UnsafeBufferPointer<UInt8>, _ symbols: inout [Int32]) {
        var unknown = UnknownRun()
        var i = 0
        while i < word.count {
            let b = word[i]
            let length = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            let char = UnsafeBufferPointer(rebasing: word[i..<(i + length)])
            var id: Int32 = -1
            if length == 1 {
                id = asciiSymbolIds[Int(b)]
            } else {
                let e = vocabulary.find(UnsafeRawBufferPointer(char))
                if e >= 0 { id = vocabularyIds[e] }
            }
            if id >= 0 {
                unknown.flush(into: &symbols)
                symbols.append(id)
            } else {
                missing(char, &unknown, &symbols)
            }
            i += length
        }
        unknown.flush(into: &symbols)
    }

    /// A character the vocabulary lacks: byte fallback if every byte has a token, else unknown.
    /// (As in Hugging Face, byte tokens do not flush a pending unknown token.)
    @inline(__always)
    private func missing(_ char: UnsafeBufferPointer<UInt8>, _ unknown: inout UnknownRun, _ symbols: inout [Int32]) {
        if spec.byteFallback && char.allSatisfy({ byteFallbackIds[Int($0)] >= 0 }) {
            for b in char { symbols.append(byteFallbackIds[Int(b)]) }
            return
        }
        guard let unk = spec.unknownTokenId else { return }
        if unknown.pending {
            if !spec.fuseUnknown { symbols.append(unk) }   // emit the previous one, keep this one pending
        } else {
            unknown = UnknownRun(pending: true, id: unk)
        }
    }

    /// `symbols` merged by the scan (`useHeap` false) or the heap (true); the two must agree.
    func merged(_ symbols: [Int32], useHeap: Bool) -> [Int32] {
        var s = MergeScratch()
        s.symbols = symbols
        if symbols.count > 1 { if useHeap { mergeLong(&s) } else { mergeShort(&s) } }
        return s.symbols
    }

    /// Merges by scanning all adjacent pairs for the lowest rank: quadratic, fast for short words.
    private func mergeShort(_ s: inout MergeScratch) {
        s.ranks.removeAll(keepingCapacity: true)
        for i in 0..<(s.symbols.count - 1) { s.ranks.append(merges.lookup(s.symbols[i], s.symbols[i + 1])) }
        while true {
            var best = MergeTable.none, at = -1
            for i in s.ranks.indices where s.ranks[i] < best {
                best = s.ranks[i]
                at = i
            }
            if at < 0 { return }
            s.symbols[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            s.symbols.remove(at: at + 1)
            s.ranks.remove(at: at)
            if at > 0 { s.ranks[at - 1] = merges.lookup(s.symbols[at - 1], s.symbols[at]) }
            if at < s.ranks.count { s.ranks[at] = merges.lookup(s.symbols[at], s.symbols[at + 1]) }
        }
    }

    /// Merges with a linked list and a min-heap of (rank << 32 | position): O(n log n) for the
    /// long words of pre-tokenizer-less tokenizers (a legacy Llama-2 segment is one word).
    private func mergeLong(_ s: inout MergeScratch) {
        let n = s.symbols.count
        s.prev = (0..<n).map { Int32($0) - 1 }
        s.next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
        s.heap.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) {
            let r = merges.lookup(s.symbols[i], s.symbols[i + 1])
            if r != MergeTable.none { s.push(r & 0xFFFF_FFFF_0000_0000 | UInt64(i)) }
        }
        while let top = s.pop() {
            let pos = Int(top & 0xFFFF_FFFF)
            guard s.symbols[pos] >= 0, case let right = Int(s.next[pos]), right >= 0 else { continue }
            let current = merges.lookup(s.symbols[pos], s.symbols[right])
            guard current != MergeTable.none, current >> 32 == top >> 32 else { continue }   // stale entry
            s.symbols[pos] = Int32(truncatingIfNeeded: current & 0xFFFF_FFFF)
            s.symbols[right] = -1
            let after = s.next[right]
            s.next[pos] = after
            if after >= 0 { s.prev[Int(after)] = Int32(pos) }
            let before = s.prev[pos]
            if before >= 0 {
                let r = merges.lookup(s.symbols[Int(before)], s.symbols[pos])
                if r != MergeTable.none { s.push(r & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            }
            if after >= 0 {
                let r = merges.lookup(s.symbols[pos], s.symbols[Int(after)])
                if r != MergeTable.none { s.push(r & 0xFFFF_FFFF_0000_0000 | UInt64(pos)) }
            }
        }
        var out = 0
        var i = 0   // symbol 0 is never merged away: only right-hand symbols are
        while i >= 0 {
            s.symbols[out] = s.symbols[i]
            out += 1
            i = Int(s.next[i])
        }
        s.symbols.removeSubrange(out...)
    }
}

/// A pending unknown token (Hugging Face holds one back so that `fuse_unk` can extend it).
struct UnknownRun {
    var pending = false
    var id: Int32 = 0

    @inline(__always)
    mutating func flush(into symbols: inout [Int32]) {
        if pending {
            symbols.append(id)
            pending = false
        }
    }
}

/// Reusable buffers for merging one word at a time.
struct MergeScratch {
    var symbols: [Int32] = []
    var ranks: [UInt64] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap: [UInt64] = []

    mutating func push(_ v: UInt64) {
        heap.append(v)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent] <= v { break }
            heap[i] = heap[parent]
            i = parent
        }
        heap[i] = v
    }

    mutating func pop() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        var i = 0
        let n = heap.count
        while true {
            var child = 2 * i + 1
            if child >= n { break }
            if child + 1 < n && heap[child + 1] < heap[child] { child += 1 }
            if heap[child] >= last { break }
            heap[i] = heap[child]
            i = child
        }
        heap[i] = last
        return top
    }
}

/// Recently merged words -> their ids. Cleared when full, so memory stays bounded on endless
/// input; results never depend on it.
struct WordCache: Sendable {
    static let capacity = 1 << 15
    private var keys = ByteKeyTable(capacity: WordCache.capacity)
    private var idStarts: [Int32] = [0]
    private var ids: [Int32] = []

    /// Appends the cached ids of `word` and returns true, or returns false.
    func append(_ word: UnsafeBufferPointer<UInt8>, to out: inout [Int32]) -> Bool {
        let e = keys.find(UnsafeRawBufferPointer(word))
        if e < 0 { return false }
        out.append(contentsOf: ids[Int(idStarts[e])..<Int(idStarts[e + 1])])
        return true
    }

    mutating func insert(_ word: UnsafeBufferPointer<UInt8>, _ wordIds: [Int32]) {
        if keys.count >= Self.capacity || keys.keyByteCount > Self.capacity * 16 {
            keys.removeAll()
            idStarts.removeAll(keepingCapacity: true)
            idStarts.append(0)
            ids.removeAll(keepingCapacity: true)
        }
        let before = keys.count
        let e = keys.insert(UnsafeRawBufferPointer(word))
        guard e == before else { return }   // another thread cached it meanwhile
        ids.append(contentsOf: wordIds)
        idStarts.append(Int32(ids.count))
    }
}
