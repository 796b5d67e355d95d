import Foundation

extension TokenizerSpec.Normalizer {
    /// Normalizes one text segment. Returns false when the segment is already normalized (the
    /// common case; `out` is untouched), true when the result was written to `out`.
    func apply(_ text: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        switch self {
        case .none:
            return false
        case .nfc:
            // Every scalar below U+0300 is NFC-stable and none composes with its neighbour
            // (combining marks start at U+0300, lead byte 0xCC), so most text needs no work.
            if !text.contains(where: { $0 >= 0xCC }) { return false }
            let composed = String(decoding: text, as: UTF8.self).precomposedStringWithCanonicalMapping
            out.removeAll(keepingCapacity: true)
            out.append(contentsOf: composed.utf8)
            return true
        case .legacyMetaspace(let replacement):
            // Prepend (only to non-empty text), then Replace(" ", replacement).
            out.removeAll(keepingCapacity: true)
            guard !text.isEmpty else { return true }
            let r = Array(replacement.utf8)
            out.append(contentsOf: r)
            for b in text {
                if b == 0x20 { out.append(contentsOf: r) } else { out.append(b) }
            }
            return true
        }
    }

    /// The normalized form of a whole string (the patterns of `normalized` added tokens).
    func apply(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        var out: [UInt8] = []
        let changed = bytes.withUnsafeBufferPointer { apply($0, into: &out) }
        if changed { bytes = out }
        return bytes
    }
}
