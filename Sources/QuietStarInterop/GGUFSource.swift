import QuietStarFormat
import QuietStarGGUF

/// A tensor of a mapped GGUF file as a conversion source: dequantized a chunk at a time, or
/// copied as stored when the target dtype has the same bytes (F32, F16, BF16 and Q8_0 share
/// their encodings with ours: Q8_0 is our q8_0 block for block).
///
/// With `ropeHeads`, rows are read in Hugging Face order: llama.cpp's converter stores each
/// head's q (or k) rows interleaved for its pairwise rotary, and this undoes it
/// (`RopeRowOrder`).
final class GGUFSource: TensorSource {
    let file: GGUFFile
    let info: GGUFTensorInfo
    private let ropeHeads: Int?
    private let rows: Int
    private let rowLength: Int
    private let rowBytes: Int
    /// The rows of a permuted tensor that is copied as stored, regrouped (one tensor's bytes).
    private var regrouped: UnsafeMutableRawBufferPointer?
    /// One decoded source row, for the permuted decode path.
    private var rowBuffer: [Float] = []

    init(file: GGUFFile, info: GGUFTensorInfo, ropeHeads: Int?) {
        self.file = file
        self.info = info
        self.ropeHeads = ropeHeads
        rowLength = Int(info.dims[0])
        rows = Int(info.elementCount) / rowLength
        rowBytes = rowLength / info.type.blockSize * info.type.blockBytes
    }

    deinit { regrouped?.deallocate() }

    var elementCount: Int { Int(info.elementCount) }

    var storedDType: DType? {
        switch info.type {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        default: nil
        }
    }

    var rawBytes: UnsafeRawBufferPointer? {
        guard storedDType != nil else { return nil }
        guard ropeHeads != nil else { return file.bytes(of: info) }
        if regrouped == nil {
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
            let stored = file.bytes(of: info)
            for r in 0..<rows {
                let from = sourceRow(r) * rowBytes
                out.baseAddress!.advanced(by: r * rowBytes).copyMemory(from: stored.baseAddress! + from, byteCount: rowBytes)
            }
            regrouped = out
        }
        return UnsafeRawBufferPointer(regrouped!)
    }

    /// The stored row that holds original row `r`.
    @inline(__always)
    private func sourceRow(_ r: Int) -> Int {
        guard let heads = ropeHeads else { return r }
        return RopeRowOrder.stored(ofOriginal: r, rows: rows, heads: heads)
    }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        guard ropeHeads != nil else {
            file.decode(info, elements: range, into: out)
            file.release(info, elements: range)
            return
        }
        if rowBuffer.isEmpty { rowBuffer = [Float](repeating: 0, count: rowLength) }
        var at = range.lowerBound
        while at < range.upperBound {
            let r = at / rowLength, column = at % rowLength
            let n = min(rowLength - column, range.upperBound - at)
            let s = sourceRow(r) * rowLength
            rowBuffer.withUnsafeMutableBufferPointer { row in
                file.decode(info, elements: s..<(s + rowLength), into: row)
                for c in 0..<n { out[at - range.lowerBound + c] = row[column + c] }
            }
            at += n
        }
    }

    func release() { file.release(info) }
}
