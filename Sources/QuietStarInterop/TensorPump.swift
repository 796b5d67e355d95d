import QuietStarFormat

/// Moves one tensor from a source to a sink in a target dtype through two reusable buffers
/// (4 MiB of f32 staging, 4 MiB of encoded bytes), so a conversion's memory is bounded by the
/// chunk size, not by the largest tensor.
///
/// When the source already stores the target dtype and needs no transform, bytes are copied
/// as they are: an f32 -> f32 or bf16 -> bf16 conversion is bit-exact by construction.
final class TensorPump {
    /// Elements per chunk: a multiple of 32 so q8_0 blocks never straddle chunks.
    static let chunkElements = 1 << 20

    private let staging: UnsafeMutableBufferPointer<Float>
    private let encoded: UnsafeMutableRawBufferPointer

    init() {
        staging = .allocate(capacity: Self.chunkElements)
        encoded = .allocate(byteCount: 4 * Self.chunkElements, alignment: 64)
    }

    deinit {
        staging.deallocate()
        encoded.deallocate()
    }

    /// Streams `source` as `dtype` into `sink`. `name`/`path` label errors. Values that the
    /// target cannot hold are refused rather than silently turned into infinities: finite
    /// values beyond f16's range, and NaN or infinity in q8_0 (a block's scale would be lost).
    func pump(_ source: some TensorSource, as dtype: DType, name: String, path: String,
              sink: (UnsafeRawBufferPointer) throws(InteropError) -> Void) throws(InteropError) {
        let total = source.elementCount
        if source.storedDType == dtype, let raw = source.rawBytes {
            let step = 4 * Self.chunkElements
            var offset = 0
            while offset < raw.count {
                let end = min(raw.count, offset + step)
                try sink(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                source.releaseRaw(offset..<end)
                offset = end
            }
            return
        }
        guard dtype.isFloatingPoint else {
            throw InteropError(.internal, path: path, field: name, "cannot convert to \(dtype.name)")
        }
        if dtype == .q8_0 && total % DTypeCodec.q8BlockSize != 0 {
            throw InteropError(.internal, path: path, field: name, "\(total) elements is not a whole number of q8_0 blocks")
        }
        var start = 0
        while start < total {
            let n = min(Self.chunkElements, total - start)
            let values = UnsafeMutableBufferPointer(rebasing: staging[0..<n])
            try source.read(start..<(start + n), into: values)
            try check(UnsafeBufferPointer(values), for: dtype, name: name, path: path, firstElement: start)
            let byteCount = Int(dtype.byteCount(elementCount: UInt64(n), innermost: UInt64(n))!)
            let out = UnsafeMutableRawBufferPointer(rebasing: encoded[0..<byteCount])
            DTypeCodec.encode(UnsafeBufferPointer(values), as: dtype, into: out)
            try sink(UnsafeRawBufferPointer(out))
            start += n
        }
    }

    private func check(_ values: UnsafeBufferPointer<Float>, for dtype: DType, name: String, path: String,
                       firstElement: Int) throws(InteropError) {
        switch dtype {
        case .f16:
            // f16's largest finite value is 65504; anything from 65520 up rounds to infinity.
            for (i, v) in values.enumerated() where v.isFinite && abs(v) >= 65520 {
                throw InteropError(.usage, path: path, field: name,
                                   "element \(firstElement + i) = \(v) is beyond the f16 range; store this model as bf16 or f32")
            }
        case .q8_0:
            for (i, v) in values.enumerated() where !v.isFinite {
                throw InteropError(.invalidInput, path: path, field: name,
                                   "element \(firstElement + i) is \(v); q8_0 needs finite values")
            }
        default:
            break
        }
    }
}
