import QuietStarCheckpoint
import QuietStarKernels
import QuietStarModel
import QuietStarTestSupport
import Testing

/// The KV cache in both encodings: what `store` writes is what `span` hands attention (f16:
/// rounded to nearest), rows land head-major in their own slot, and `release` gives back a slot's
/// pages without touching its kept rows or any other slot.
@Suite struct KVCacheTests {
    static let config = ModelConfig(vocabSize: 16, hiddenSize: 64, layerCount: 2, headCount: 2, kvHeadCount: 2,
                                    headDim: 32, intermediateSize: 64, contextLength: 4096)

    /// Value `d` of kv head `h` of cache row `row` in `layer`, read through the span.
    static func value(_ cache: KVCache, layer: Int, row: Int, head: Int, _ d: Int, keys: Bool) -> Float {
        let span = cache.span(layer: layer, KeyRange(start: row, count: 1))
        let base = keys ? span.keyBase : span.valueBase
        let element = head * span.headStride! + d
        switch span.encoding {
        case .f32: return base.load(fromByteOffset: 4 * element, as: Float.self)
        case .f16: return Float(Float16(bitPattern: base.load(fromByteOffset: 2 * element, as: UInt16.self)))
        }
    }

    @Test(arguments: CacheEncoding.allCases)
    func storeThenSpanReadsTheValuesBack(encoding: CacheEncoding) throws {
        let c = Self.config
        let cache = try KVCache(config: c, slots: 3, rowsPerSlot: 4096, encoding: encoding)
        #expect(cache.encoding == encoding)
        var rng = SplitMix64(seed: 3)
        let count = 5
        let keys = rng.floats(count * c.kvDim, scale: 3), values = rng.floats(count * c.kvDim, scale: 3)
        let rows = [cache.textRow(slot: 2, position: 7), cache.textRow(slot: 0, position: 0), cache.textRow(slot: 1, position: 4095),
                    cache.textRow(slot: 2, position: 8), cache.textRow(slot: 0, position: 100)]
        for layer in 0..<c.layerCount {
            cache.store(layer: layer, rows: rows, count: count, keys: keys, values: values)
        }
        func expected(_ x: Float) -> Float { encoding == .f32 ? x : Float(Float16(x)) }
        var mismatches = 0
        for layer in 0..<c.layerCount {
            for (i, row) in rows.enumerated() {
                for h in 0..<c.kvHeadCount {
                    for d in 0..<c.headDim {
                        let j = i * c.kvDim + h * c.headDim + d
                        if Self.value(cache, layer: layer, row: row, head: h, d, keys: true) != expected(keys[j]) { mismatches += 1 }
                        if Self.value(cache, layer: layer, row: row, head: h, d, keys: false) != expected(values[j]) { mismatches += 1 }
                    }
                }
            }
        }
        #expect(mismatches == 0, "\(encoding): \(mismatches) values read back differently")
    }

    @Test(arguments: CacheEncoding.allCases)
    func releaseKeepsTheKeptRowsAndOtherSlots(encoding: CacheEncoding) throws {
        let c = Self.config
        let cache = try KVCache(config: c, slots: 2, rowsPerSlot: 4096, encoding: encoding)
        let ones = [Float](repeating: 1, count: c.kvDim)
        for slot in 0..<2 {
            for p in stride(from: 0, to: 4096, by: 97) {
                for layer in 0..<c.layerCount {
                    cache.store(layer: layer, rows: [cache.textRow(slot: slot, position: p)], count: 1, keys: ones, values: ones)
                }
            }
        }
        cache.release(slot: 0, keepingRows: 1024)
        var kept = 0, cleared = 0, other = 0
        for p in stride(from: 0, to: 4096, by: 97) {
            for layer in 0..<c.layerCount {
                for h in 0..<c.kvHeadCount {
                    let mine = Self.value(cache, layer: layer, row: cache.textRow(slot: 0, position: p), head: h, 0, keys: true)
                    let theirs = Self.value(cache, layer: layer, row: cache.textRow(slot: 1, position: p), head: h, 0, keys: false)
                    if p < 1024 { kept += mine == 1 ? 0 : 1 }
                    if theirs != 1 { other += 1 }
                    // Rows well inside the released range sit on returned pages: zero again.
                    if p >= 1024 + 256 && p < 4096 - 256 && mine != 0 { cleared += 1 }
                }
            }
        }
        #expect(kept == 0, "\(encoding): \(kept) kept rows changed")
        #expect(other == 0, "\(encoding): \(other) rows of the other slot changed")
        #expect(cleared == 0, "\(encoding): \(cleared) released rows still hold their values")
    }
}
