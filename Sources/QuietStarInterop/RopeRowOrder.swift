import QuietStarFormat

/// llama.cpp's q/k row order for llama-architecture models, in both directions.
///
/// Its converter regroups the `d` rows of each head from Hugging Face's two halves (rotary
/// pairs `(i, i + d/2)`) into adjacent pairs `(2i, 2i + 1)`, the layout of ggml's "normal"
/// rotary: stored row `h*d + 2i + j` (i < d/2, j < 2) holds original row `h*d + j*d/2 + i`.
enum RopeRowOrder {
    /// The original (Hugging Face) row held by GGUF row `g`.
    static func original(ofStored g: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads, half = d / 2
        let h = g / d, within = g % d
        let i = within / 2, j = within % 2
        return h * d + j * half + i
    }

    /// The GGUF row that holds original row `o`.
    static func stored(ofOriginal o: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads, half = d / 2
        let h = o / d, within = o % d
        let j = within / half, i = within % half
        return h * d + 2 * i + j
    }
}

/// A source whose rows are those of `base` put into llama.cpp's q/k order (export direction):
/// row `g` of this source is row `RopeRowOrder.original(ofStored: g)` of `base`. Raw bytes, when
/// the base has them, are regrouped whole rows at a time, so a q8_0 tensor stays bit-exact.
final class RopeRowSource<Base: TensorSource>: TensorSource {
    let base: Base
    private let rows: Int
    private let rowLength: Int
    private let heads: Int
    private var regrouped: UnsafeMutableRawBufferPointer?
    private var row: [Float]

    init(base: Base, rows: Int, heads: Int) {
        self.base = base
        self.rows = rows
        self.heads = heads
        rowLength = base.elementCount / rows
        row = [Float](repeating: 0, count: rowLength)
    }

    deinit { regrouped?.deallocate() }

    var elementCount: Int { base.elementCount }
    var storedDType: DType? { base.storedDType }

    var rawBytes: UnsafeRawBufferPointer? {
        guard let raw = base.rawBytes else { return nil }
        if regrouped == nil {
            let rowBytes = raw.count / rows
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: raw.count, alignment: 64)
            for g in 0..<rows {
                let o = RopeRowOrder.original(ofStored: g, rows: rows, heads: heads)
                out.baseAddress!.advanced(by: g * rowBytes).copyMemory(from: raw.baseAddress! + o * rowBytes, byteCount: rowBytes)
            }
            regrouped = out
        }
        return UnsafeRawBufferPointer(regrouped!)
    }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        var at = range.lowerBound
        while at < range.upperBound {
            let g = at / rowLength, column = at % rowLength
            let n = min(rowLength - column, range.upperBound - at)
            let o = RopeRowOrder.original(ofStored: g, rows: rows, heads: heads)
            try row.withUnsafeMutableBufferPointer { (buffer) throws(InteropError) in
                try base.read((o * rowLength)..<((o + 1) * rowLength), into: buffer)
                for c in 0..<n { out[at - range.lowerBound + c] = buffer[column + c] }
            }
            at += n
        }
    }

    func release() { base.release() }
}
