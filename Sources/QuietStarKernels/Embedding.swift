/// Token embedding lookup: rows of a (possibly f16 / bf16 / Q8_0) table gathered into f32.
public enum Embedding {
    /// out[i, :] = table[ids[i], :] as f32, `count x table.cols`.
    public static func forward(table: WeightMatrix, ids: UnsafePointer<Int32>, count: Int,
                               out: UnsafeMutablePointer<Float>) {
        let dim = table.cols
        for i in 0..<count {
            let id = Int(ids[i])
            precondition(id >= 0 && id < table.rows, "Embedding: id \(id) out of range 0..<\(table.rows) at \(i)")
            Convert.decode(table.row(id), table.encoding, count: dim, into: out + i * dim)
        }
    }

    /// dTable[ids[i], :] += dOut[i, :] (a repeated id accumulates). Columns are split between
    /// workers, so repeated ids never race.
    public static func backward(dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>, count: Int, dim: Int,
                                dTable: UnsafeMutablePointer<Float>) {
        Threads.parallelRanges(dim, minChunk: count * dim < 65536 ? dim : 256) { cols in
            for i in 0..<count {
                let id = Int(ids[i])
                precondition(id >= 0, "Embedding: negative id \(id) at \(i)")
                Vec.add(dOut + i * dim + cols.lowerBound, into: dTable + id * dim + cols.lowerBound, cols.count)
            }
        }
    }
}
