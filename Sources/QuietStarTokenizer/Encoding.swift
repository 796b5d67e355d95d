/// `encode`: the pipeline of Hugging Face `Tokenizer::encode` for one sequence.
extension Tokenizer {
    /// The ids of `text`, as Hugging Face `tokenizers` `encode(text, add_special_tokens:)`.
    ///
    /// Added tokens in the text (`<|endoftext|>`, `<s>`, ...) become their ids whether or not
    /// `addSpecialTokens` is set; that flag only controls the BOS/EOS the post-processor adds.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecialTokens && spec.addBosToken, let bos = spec.bosTokenId { ids.append(bos) }
        var text = text
        text.withUTF8 { bytes in
            var work = EncodeScratch()
            var segments: [AddedTokenMatcher.Segment] = []
            if rawAddedTokens.isEmpty {
                if !bytes.isEmpty { segments.append(.text(0..<bytes.count)) }
            } else {
                rawAddedTokens.split(bytes, into: &segments)
            }
            for segment in segments {
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    encodeSegment(UnsafeBufferPointer(rebasing: bytes[range]), startsInput: range.lowerBound == 0,
                                  into: &ids, &work)
                }
            }
        }
        if addSpecialTokens && spec.addEosToken, let eos = spec.eosTokenIds.first { ids.append(eos) }
        return ids
    }

    /// A segment of raw text between added tokens: normalize, then find normalized added tokens.
    private func encodeSegment(_ raw: UnsafeBufferPointer<UInt8>, startsInput: Bool,
                               into ids: inout [Int32], _ work: inout EncodeScratch) {
        var normalized: [UInt8] = []
        swap(&normalized, &work.normalized)
        defer { swap(&normalized, &work.normalized) }
        if spec.normalizer.apply(raw, into: &normalized) {
            normalized.withUnsafeBufferPointer { encodeNormalized($0, startsInput: startsInput, into: &ids, &work) }
        } else {
            encodeNormalized(raw, startsInput: startsInput, into: &ids, &work)
        }
    }

    private func encodeNormalized(_ text: UnsafeBufferPointer<UInt8>, startsInput: Bool,
                                  into ids: inout [Int32], _ work: inout EncodeScratch) {
        if normalizedAddedTokens.isEmpty {
            preTokenize(text, startsInput: startsInput, into: &ids, &work)
            return
        }
        var segments: [AddedTokenMatcher.Segment] = []
        normalizedAddedTokens.split(text, into: &segments)
        for segment in segments {
            switch segment {
            case .token(let id):
                ids.append(id)
            case .text(let range):
                // Only an offset-0 piece of the input's first segment "starts the input" (Metaspace `first`).
                preTokenize(UnsafeBufferPointer(rebasing: text[range]), startsInput: startsInput && range.lowerBound == 0,
                            into: &ids, &work)
            }
        }
    }

    /// Cuts normalized text into words and encodes each.
    private func preTokenize(_ text: UnsafeBufferPointer<UInt8>, startsInput: Bool,
                             into ids: inout [Int32], _ work: inout EncodeScratch) {
        switch spec.preTokenizer {
        case .none where spec.model == .byte:
            for b in text { ids.append(Int32(b)) }

        case .none:
            encodeWord(text, into: &ids, &work.merge)

        case .byteLevel(let addPrefixSpace, let pattern):
            var prepared: [UInt8] = []
            swap(&prepared, &work.prepared)
            defer { swap(&prepared, &work.prepared) }
            let usePrepared = addPrefixSpace && text.first != 0x20
            if usePrepared {
                prepared.removeAll(keepingCapacity: true)
                prepared.append(0x20)
                prepared.append(contentsOf: text)
            }
            func words(_ t: UnsafeBufferPointer<UInt8>) {
                guard let pattern else {
                    encodeWord(t, into: &ids, &work.merge)
                    return
                }
                work.scanner.split(t, pattern: pattern)
                var start = 0
                for end in work.scanner.wordEnds {
                    encodeWord(UnsafeBufferPointer(rebasing: t[start..<Int(end)]), into: &ids, &work.merge)
                    start = Int(end)
                }
            }
            if usePrepared { prepared.withUnsafeBufferPointer { words($0) } } else { words(text) }

        case .metaspace(let replacement, let scheme, let split):
            var prepared: [UInt8] = []
            swap(&prepared, &work.prepared)
            defer { swap(&prepared, &work.prepared) }
            let r = Array(replacement.utf8)
            // Spaces become the replacement; then it is prepended unless the text now starts with it.
            let startsWithReplacement = text.first == 0x20 || text.starts(with: r)
            prepared.removeAll(keepingCapacity: true)
            if !startsWithReplacement && (scheme == .always || (scheme == .first && startsInput)) {
                prepared.append(contentsOf: r)
            }
            for b in text {
                if b == 0x20 { prepared.append(contentsOf: r) } else { prepared.append(b) }
            }
            prepared.withUnsafeBufferPointer { t in
                guard split else {
                    encodeWord(t, into: &ids, &work.merge)
                    return
                }
                // MergedWithNext on every replacement character: a word starts at each one.
                var start = 0
                var i = 0
                while i + r.count <= t.count {
                    if t[i] == r[0] && (r.count == 1 || t[(i + 1)..<(i + r.count)].elementsEqual(r[1...])) {
                        if i > start {
                            encodeWord(UnsafeBufferPointer(rebasing: t[start..<i]), into: &ids, &work.merge)
                            start = i
                        }
                        i += r.count
                    } else {
                        i += 1
                    }
                }
                encodeWord(UnsafeBufferPointer(rebasing: t[start...]), into: &ids, &work.merge)
            }
        }
    }
}

/// Buffers reused across the words of one `encode` call.
struct EncodeScratch {
    var normalized: [UInt8] = []
    var prepared: [UInt8] = []
    var scanner = SplitScanner()
    var merge = MergeScratch()
}
