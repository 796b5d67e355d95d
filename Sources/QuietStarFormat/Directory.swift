/// Placement of tensor blobs in the data region: every blob inside [64, index_offset) and no
/// two overlapping. Gaps are allowed (alignment padding, dead space left by metadata edits).
enum Directory {
    static func validatePlacement(_ tensors: [TensorInfo], indexOffset: UInt64) throws(QStarError) {
        let dataStart = UInt64(QStarHeader.size)
        for (i, t) in tensors.enumerated() {
            let (end, overflow) = t.offset.addingReportingOverflow(t.storedLength)
            if t.offset < dataStart {
                throw QStarError(.invalid, field: "index.tensors[\(i)].offset", offset: offsetFieldOffset(t),
                                 "'\(t.name)': offset \(t.offset) is inside the 64-byte header")
            }
            if overflow || end > indexOffset {
                throw QStarError(.invalid, field: "index.tensors[\(i)].offset", offset: offsetFieldOffset(t),
                                 "'\(t.name)': offset \(t.offset) + stored_length \(t.storedLength) "
                                     + (overflow ? "overflows 64 bits" : "= \(end) runs past the data region, which ends at index_offset \(indexOffset)"))
            }
        }
        // Sort by offset and check neighbours: O(n log n), no quadratic pair scan. Writers emit
        // blobs in directory order, so the sort is usually skipped.
        var order = Array(tensors.indices)
        if !zip(tensors, tensors.dropFirst()).allSatisfy({ $0.offset <= $1.offset }) {
            let offsets = tensors.map(\.offset)
            order.sort { offsets[$0] < offsets[$1] }
        }
        for k in order.indices.dropFirst() {
            let prev = tensors[order[k - 1]], cur = tensors[order[k]]
            let prevEnd = prev.offset + prev.storedLength  // checked above
            if cur.offset < prevEnd {
                throw QStarError(.invalid, field: "index.tensors[\(order[k])].offset", offset: offsetFieldOffset(cur),
                                 "'\(cur.name)' [\(cur.offset), \(cur.offset + cur.storedLength)) overlaps '\(prev.name)' [\(prev.offset), \(prevEnd))")
            }
        }
    }

    /// The absolute position of a tensor entry's `offset` field (for messages).
    static func offsetFieldOffset(_ t: TensorInfo) -> UInt64 {
        // name length + name + dtype + encoding + rank + dims
        t.entryOffset + 8 + UInt64(t.name.utf8.count) + 12 + 8 * UInt64(t.shape.count)
    }
}
