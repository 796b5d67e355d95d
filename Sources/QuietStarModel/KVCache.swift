import Glibc
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
/// their rows afterwards). Every row of a layer lies at `base + row * kvDim`, so any run of rows
/// is a `KeySpan` (pointer + stride) the attention kernel reads in place.
///
/// The arena is reserved with `mmap(MAP_NORESERVE)`: pages cost memory only once a row is
/// written, so `rowsPerSlot` can be the full context length while the resident size follows the
/// rows actually used. `release(slot:)` hands a long line's pages back when its slot is reused.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let kvDim: Int
    public let slotCount: Int
    public let rowsPerSlot: Int
    public let scratchRows: Int
    /// Rows in all text slots; scratch rows start here.
    public var textRows: Int { slotCount * rowsPerSlot }
    public var totalRows: Int { textRows + scratchRows }

    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let layerStride: Int   // floats between layer l's keys and layer l+1's keys

    public init(config: ModelConfig, slots: Int, rowsPerSlot: Int, scratchRows: Int = 0) throws(ModelError) {
        guard slots >= 1, rowsPerSlot >= 1, scratchRows >= 0 else {
            throw ModelError(.invalidArgument, "KV cache needs at least one slot of one row (asked for \(slots) slots of \(rowsPerSlot) rows)")
        }
        layerCount = config.layerCount
        kvDim = config.kvDim
        slotCount = slots
        self.rowsPerSlot = rowsPerSlot
        self.scratchRows = scratchRows
        let rows = slots.multipliedReportingOverflow(by: rowsPerSlot)
        let total = rows.partialValue.addingReportingOverflow(scratchRows)
        let perLayer = total.partialValue.multipliedReportingOverflow(by: 2 * kvDim)
        let all = perLayer.partialValue.multipliedReportingOverflow(by: layerCount * MemoryLayout<Float>.stride)
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

    /// Layer `layer`'s keys; row `r` is at `keys(layer) + r * kvDim`.
    @inline(__always)
    public func keys(layer: Int) -> UnsafeMutablePointer<Float> {
        base.assumingMemoryBound(to: Float.self) + layer * layerStride
    }

    /// Layer `layer`'s values; row `r` is at `values(layer) + r * kvDim`.
    @inline(__always)
    public func values(layer: Int) -> UnsafeMutablePointer<Float> {
        keys(layer: layer) + totalRows * kvDim
    }

    /// The rows `range` of layer `layer` as the attention kernel's key span.
    @inline(__always)
    public func span(layer: Int, _ range: KeyRange) -> KeySpan {
        KeySpan(keys: UnsafePointer(keys(layer: layer) + range.start * kvDim),
                values: UnsafePointer(values(layer: layer) + range.start * kvDim),
                rowStride: kvDim, count: range.count)
    }

    /// The rows a token at `position` of text slot `slot` attends to: its own and the earlier
    /// ones of the slot, the most recent `window` only when a sliding window applies.
    @inline(__always)
    public func visibleRows(slot: Int, position: Int, window: Int?) -> KeyRange {
        let first = window.map { max(0, position - $0 + 1) } ?? 0
        return KeyRange(start: textRow(slot: slot, position: first), count: position - first + 1)
    }

    /// Returns the physical pages behind rows `[keepRows, rowsPerSlot)` of `slot` to the system
    /// (their contents become zero). Called when a slot that held a long line is reused, so the
    /// resident size tracks the lines in flight rather than the longest line ever seen.
    public func release(slot: Int, keepingRows keepRows: Int = 0) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for layer in 0..<layerCount {
            for plane in [keys(layer: layer), values(layer: layer)] {
                let from = UnsafeMutableRawPointer(plane + textRow(slot: slot, position: keepRows) * kvDim)
                let to = UnsafeMutableRawPointer(plane + textRow(slot: slot, position: rowsPerSlot) * kvDim)
                // Only whole pages strictly inside the range: neighbours' rows must survive.
                let start = (Int(bitPattern: from) + page - 1) / page * page
                let end = Int(bitPattern: to) / page * page
                if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED) }
            }
        }
    }
}
