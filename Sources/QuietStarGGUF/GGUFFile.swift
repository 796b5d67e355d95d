import QuietStarFormat

/// A GGUF file mapped into memory and validated (`GGUFLayout.parse`) before any tensor is read.
///
/// Tensor bytes stay in the mapping; `values(of:)` dequantizes one tensor at a time, so a
/// converter holds at most one decoded tensor in memory beside the mapping's resident pages.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let layout: GGUFLayout
    private let mapping: MappedFile

    public static func open(path: String) throws(GGUFError) -> GGUFFile {
        let mapping: MappedFile
        do { mapping = try MappedFile(path: path) } catch {
            throw GGUFError(.io, path: path, error.message)
        }
        do {
            return GGUFFile(path: path, layout: try GGUFLayout.parse(mapping.bytes), mapping: mapping)
        } catch {
            throw error.naming(path)
        }
    }

    private init(path: String, layout: GGUFLayout, mapping: MappedFile) {
        self.path = path
        self.layout = layout
        self.mapping = mapping
    }

    /// The stored bytes of `tensor` (already checked to lie inside the file).
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = Int(tensor.offset)
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + Int(tensor.byteCount))])
    }

    /// Elements `range` of `tensor` decoded to f32 into `out` (`out.count == range.count`).
    /// Both ends must fall on block boundaries (a multiple of `tensor.type.blockSize`), which a
    /// converter's chunks of 2^20 elements always do; this is what lets a conversion decode a
    /// large tensor a chunk at a time.
    public func decode(_ tensor: GGUFTensorInfo, elements range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) {
        let block = tensor.type.blockSize
        precondition(range.lowerBound >= 0 && range.upperBound <= Int(tensor.elementCount) && out.count == range.count
            && range.lowerBound % block == 0 && range.upperBound % block == 0, "GGUFFile.decode: range not on block boundaries")
        let from = range.lowerBound / block * tensor.type.blockBytes
        let to = range.upperBound / block * tensor.type.blockBytes
        let all = bytes(of: tensor)
        Dequantize.run(tensor.type, UnsafeRawBufferPointer(rebasing: all[from..<to]), count: range.count, into: out)
    }

    /// Tells the kernel the stored bytes of elements `range` of `tensor` are no longer needed
    /// (a converter reads each tensor front to back once), so the resident set stays near one
    /// chunk whatever the file size.
    public func release(_ tensor: GGUFTensorInfo, elements range: Range<Int>? = nil) {
        let block = tensor.type.blockSize
        let r = range ?? 0..<Int(tensor.elementCount)
        let start = Int(tensor.offset) + r.lowerBound / block * tensor.type.blockBytes
        let end = Int(tensor.offset) + r.upperBound / block * tensor.type.blockBytes
        mapping.release(start..<end)
    }

    /// `tensor` decoded to f32 in ggml order (row-major over `shape`).
    public func values(of tensor: GGUFTensorInfo) -> [Float] {
        let n = Int(tensor.elementCount)
        return [Float](unsafeUninitializedCapacity: n) { out, count in
            Dequantize.run(tensor.type, bytes(of: tensor), count: n, into: out)
            count = n
        }
    }
}
