import Glibc
import QuietStarCheckpoint
import QuietStarKernels

/// A contiguous run of cache rows, `[start, start + count)`, in arena row numbers.
public struct KeyRange: Sendable, Equatable {
    public var start: Int
    public var count: Int
    public init(start: Int, count: Int) {
        self.start = start
        self.count = count
    }
    public static let empty = KeyRange(start: 0, count: 0)
    public var end: Int { start + count }
}

/// The key/value cache: one arena of rows per layer, addressed by a single row number.
///
/// Row numbers `[s * rowsPerSlot, (s + 1) * rowsPerSlot)` hold text slot `s` (row `p` of the slot
/// is the key/value of the token at position `p`); rows from `textRows` on are a scratch region
/// that callers carve up for temporary streams (Quiet-STaR thoughts append there and simply forget
/// their rows afterwards).
///
/// Layout is head-major: each layer has a key plane and a value plane of `[kvHeads][totalRows]
/// [headDim]` values (f32, or f16 with `encoding: .f16`), so KV head `h` of row `r` is value
/// `(h * totalRows + r) * headDim` of its plane.
/// Any run of rows is then a `KeySpan` (pointer, `rowStride = headDim`, `headStride = totalRows *
/// headDim`) that the attention kernel reads in place, and each (row, head) unit of attention
/// streams contiguous memory (measured ~2x faster decode over long caches than row-major).
///
/// The arena is reserved with `mmap(MAP_NORESERVE)`: pages cost memory only once a row is
/// written, so `rowsPerSlot` can be the full context length while the resident size follows the
/// rows actually used. `release(slot:)` hands a long line's pages back when its slot is reused.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let kvHeads: Int
    public let headDim: Int
    public var kvDim: Int { kvHeads * headDim }
    public let slotCount: Int
    public let rowsPerSlot: Int
    public let scratchRows: Int
    /// How keys and values are stored. `.f16` halves the memory and the bytes attention reads per
    /// key (decode over long caches is bound by them); values are rounded to nearest on store.
    /// Training needs `.f32` (its backward reads the cache as f32).
    public let encoding: CacheEncoding
    /// Rows in all text slots; scratch rows start here.
    public var textRows: Int { slotCount * rowsPerSlot }
    public var totalRows: Int { textRows + scratchRows }

    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let layerStride: Int   // values between layer l's keys and layer l+1's keys

    public init(config: ModelConfig, slots: Int, rowsPerSlot: Int, scratchRows: Int = 0,
                encoding: CacheEncoding = .f32) throws(ModelError) {
        guard slots >= 1, rowsPerSlot >= 1, scratchRows >= 0 else {
            throw ModelError(.invalidArgument, "KV cache needs at least one slot of one row (asked for \(slots) slots of \(rowsPerSlot) rows)")
        }
        layerCount = config.layerCount
        kvHeads = config.kvHeadCount
        headDim = config.headDim
        let kvDim = config.kvDim
        slotCount = slots
        self.rowsPerSlot = rowsPerSlot
        self.scratchRows = scratchRows
        self.encoding = encoding
        let rows = slots.multipliedReportingOverflow(by: rowsPerSlot)
        let total = rows.partialValue.addingReportingOverflow(scratchRows)
        let perLayer = total.partialValue.multipliedReportingOverflow(by: 2 * kvDim)
        let all = perLayer.partialValue.multipliedReportingOverflow(by: layerCount * encoding.byteWidth)
        guard !rows.overflow, !total.overflow, !perLayer.overflow, !all.overflow, all.partialValue < (1 << 46) else {
            throw ModelError(.invalidArgument, "KV cache of \(slots) slots x \(rowsPerSlot) rows (+\(scratchRows) scratch) is too large to address")
        }
        layerStride = perLayer.partialValue
        mappedBytes = max(all.partialValue, 1)
        guard let p = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              p != MAP_FAILED else {
            throw ModelError(.invalidArgument, "could not reserve \(mappedBytes >> 20) MiB of address space for the KV cache: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { munmap(base, mappedBytes) }

    /// The arena row holding position `position` of text slot `slot`.
    @inline(__always)
    public func textRow(slot: Int, position: Int) -> Int { slot * rowsPerSlot + position }

    /// The arena row of scratch row `index`.
    @inline(__always)
    public func scratchRow(_ index: Int) -> Int { textRows + index }

    /// Layer `layer`'s key plane; KV head `h` of row `r` is value `(h * totalRows + r) * headDim`.
    @inline(__always)
    public func keyPlane(layer: Int) -> UnsafeMutableRawPointer {
        base + layer * layerStride * encoding.byteWidth
    }

    /// Layer `layer`'s value plane (same layout as the keys).
    @inline(__always)
    public func valuePlane(layer: Int) -> UnsafeMutableRawPointer {
        keyPlane(layer: layer) + totalRows * kvDim * encoding.byteWidth
    }

    /// Layer `layer`'s key plane as f32 (an f32 cache only).
    @inline(__always)
    public func keys(layer: Int) -> UnsafeMutablePointer<Float> {
        precondition(encoding == .f32, "KVCache: an \(encoding) cache has no f32 planes")
        return keyPlane(layer: layer).assumingMemoryBound(to: Float.self)
    }

    /// Layer `layer`'s value plane as f32 (an f32 cache only).
    @inline(__always)
    public func values(layer: Int) -> UnsafeMutablePointer<Float> {
        precondition(encoding == .f32, "KVCache: an \(encoding) cache has no f32 planes")
        return valuePlane(layer: layer).assumingMemoryBound(to: Float.self)
    }

    /// Values (elements) between KV head `h` and `h + 1` of the same row.
    @inline(__always)
    public var headStride: Int { totalRows * headDim }

    /// Writes `count` rows of packed keys and values (`[count, kvHeads * headDim]`, row `i` going
    /// to cache row `rows[i]`) into layer `layer`.
    public func store(layer: Int, rows: UnsafePointer<Int>, count: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let hs = headStride, hd = headDim, kvDim = self.kvDim
        switch encoding {
        case .f32:
            let kPlane = keys(layer: layer), vPlane = values(layer: layer)
            for i in 0..<count {
                let row = rows[i] * hd
                for h in 0..<kvHeads {
                    (kPlane + h * hs + row).update(from: k + i * kvDim + h * hd, count: hd)
                    (vPlane + h * hs + row).update(from: v + i * kvDim + h * hd, count: hd)
                }
            }
        case .f16:
            let kPlane = keyPlane(layer: layer).assumingMemoryBound(to: UInt16.self)
            let vPlane = valuePlane(layer: layer).assumingMemoryBound(to: UInt16.self)
            for i in 0..<count {
                let row = rows[i] * hd
                for h in 0..<kvHeads {
                    let kSrc = k + i * kvDim + h * hd, vSrc = v + i * kvDim + h * hd
                    let kDst = kPlane + h * hs + row, vDst = vPlane + h * hs + row
                    // Round to nearest even (IEEE conversion), as any f16 store of the model's values.
                    for d in 0..<hd {
                        kDst[d] = Float16(kSrc[d]).bitPattern
                        vDst[d] = Float16(vSrc[d]).bitPattern
                    }
                }
            }
        }
    }

    /// The rows `range` of layer `layer` as the attention kernel's key span.
    @inline(__always)
    public func span(layer: Int, _ range: KeyRange) -> KeySpan {
        let offset = range.start * headDim * encoding.byteWidth
        return KeySpan(keyBase: UnsafeRawPointer(keyPlane(layer: layer) + offset),
                       valueBase: UnsafeRawPointer(valuePlane(layer: layer) + offset), encoding: encoding,
                       rowStride: headDim, count: range.count, headStride: headStride)
    }

    /// The rows a token at `position` of text slot `slot` attends to: its own and the earlier
    /// ones of the slot, the most recent `window` only when a sliding window applies.
    @inline(__always)
    public func visibleRows(slot: Int, position: Int, window: Int?) -> KeyRange {
        let first = window.map { max(0, position - $0 + 1) } ?? 0
        return KeyRange(start: textRow(slot: slot, position: first), count: position - first + 1)
    }

    /// Rows of a finished line's slot that stay resident for the next line (see `recycle`).
    public static let keptRowsPerSlot = 1024

    /// A finished line used rows `0..<usedRows` of `slot`: pages past `keptRowsPerSlot` rows go
    /// back to the system, so one long line does not pin its memory for the rest of the run.
    public func recycle(slot: Int, usedRows: Int) {
        if usedRows > Self.keptRowsPerSlot { release(slot: slot, keepingRows: Self.keptRowsPerSlot) }
    }

    /// Returns the physical pages behind rows `[keepRows, rowsPerSlot)` of `slot` to the system
    /// (their contents become zero). Called when a slot that held a long line is reused, so the
    /// resident size tracks the lines in flight rather than the longest line ever seen.
    public func release(slot: Int, keepingRows keepRows: Int = 0) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let width = encoding.byteWidth
        for layer in 0..<layerCount {
            for head in 0..<kvHeads {
                for plane in [keyPlane(layer: layer), valuePlane(layer: layer)] {
                    let headPlane = plane + head * headStride * width
                    let from = headPlane + textRow(slot: slot, position: keepRows) * headDim * width
                    let to = headPlane + textRow(slot: slot, position: rowsPerSlot) * headDim * width
                    // Only whole pages strictly inside the range: neighbours' rows must survive.
                    let start = (Int(bitPattern: from) + page - 1) / page * page
                    let end = Int(bitPattern: to) / page * page
                    if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
                }
            }
        }
    }
}
