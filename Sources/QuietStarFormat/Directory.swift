/// Placement of tensor blobs in the data region: every blob inside [64, index_offset) and no
/// two overlapping. Gaps are allowed (alignment padding, dead space left by metadata edits).
enum Directory {
    static func validatePlacement(_ tensors: [TensorInfo], indexOffset: UInt64) throws(QStarError) {
        let dataStart = UInt64(QStarHeader.size)
        // Plain (offset, end) pairs: the loops below never copy a TensorInfo (names, shapes).
        var spans = [(start: UInt64, end: UInt64)]()
        spans.reserveCapacity(tensors.count)
        var sorted = true
        for i in tensors.indices {
            let offset = tensors[i].offset, length = tensors[i].storedLength
            let (end, overflow) = offset.addingReportingOverflow(length)
            if offset < dataStart || overflow || end > indexOffset {
                let t = tensors[i]
                throw QStarError(.invalid, field: "index.tensors[\(i)].offset", offset: offsetFieldOffset(t),
                                 offset < dataStart
                                     ? "'\(t.name)': offset \(offset) is inside the 64-byte header"
                                     : "'\(t.name)': offset \(offset) + stored_length \(length) "
                                         + (overflow ? "overflows 64 bits" : "= \(end) runs past the data region, which ends at index_offset \(indexOffset)"))
            }
            if let last = spans.last, last.start > offset { sorted = false }
            spans.append((offset, end))
        }
        // Sort by offset and check neighbours: O(n log n), no quadratic pair scan. Writers emit
        // blobs in directory order, so the sort is usually skipped.
        var order = Array(spans.indices)
        if !sorted { order.sort { spans[$0].start < spans[$1].start } }
        for k in order.indices.dropFirst() {
            let p = order[k - 1], c = order[k]
            if spans[c].start < spans[p].end {
                let prev = tensors[p], cur = tensors[c]
                throw QStarError(.invalid, field: "index.tensors[\(c)].offset", offset: offsetFieldOffset(cur),
                                 "'\(cur.name)' [\(cur.offset), \(spans[c].end)) overlaps '\(prev.name)' [\(prev.offset), \(spans[p].end))")
            }
        }
    }

    /// The absolute position of a tensor entry's `offset` field (for messages).
    static func offsetFieldOffset(_ t: TensorInfo) -> UInt64 {
        // name length + name + dtype + encoding + rank + dims
        t.entryOffset + 8 + UInt64(t.name.utf8.count) + 12 + 8 * UInt64(t.shape.count)
    }
}
