import QuietStarFormat

/// Where a tensor's values come from during a conversion: a slice of a mapped safetensors
/// file, a `.qstar` tensor, or a small computed array. Values are pulled a range of elements at
/// a time into a caller-owned f32 buffer, so no source is ever materialised whole.
protocol TensorSource {
    var elementCount: Int { get }
    /// The dtype whose bytes `rawBytes` holds, if the values can be copied without decoding.
    var storedDType: DType? { get }
    /// The stored bytes (unaligned) when they are the final values in `storedDType`.
    var rawBytes: UnsafeRawBufferPointer? { get }
    /// Decodes elements `range` into `into` (`into.count == range.count`).
    func read(_ range: Range<Int>, into: UnsafeMutableBufferPointer<Float>) throws(InteropError)
    /// Done with `rawBytes[range]` (a passthrough copy has consumed it): let its pages go.
    func releaseRaw(_ range: Range<Int>)
    /// Done with this tensor: let its pages go.
    func release()
}

extension TensorSource {
    func releaseRaw(_ range: Range<Int>) {}
}

/// A floating-point tensor inside a mapped safetensors file (F32, F16, BF16 or F64).
struct SafetensorsSource: TensorSource {
    let file: SafetensorsFile
    let info: SafetensorsTensorInfo

    var elementCount: Int { Int(info.elementCount) }
    var storedDType: DType? { info.dtype.qstarDType }
    var rawBytes: UnsafeRawBufferPointer? { storedDType == nil ? nil : file.data(info) }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        precondition(range.count == out.count && range.upperBound <= elementCount)
        let bytes = file.data(info)
        guard let src = bytes.baseAddress, let dst = out.baseAddress else { return }
        let n = range.count, first = range.lowerBound
        // safetensors data is not aligned, so every load is an unaligned one.
        switch info.dtype {
        case .f32:
            (UnsafeMutableRawPointer(dst)).copyMemory(from: src + 4 * first, byteCount: 4 * n)
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(littleEndian: dst[i].bitPattern)) }
        case .f16:
            for i in 0..<n {
                dst[i] = DTypeCodec.halfBitsToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * (first + i), as: UInt16.self)))
            }
        case .bf16:
            for i in 0..<n {
                dst[i] = DTypeCodec.bfloat16BitsToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * (first + i), as: UInt16.self)))
            }
        case .f64:
            for i in 0..<n {
                dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * (first + i), as: UInt64.self))))
            }
        default:
            throw InteropError(.unsupported, path: file.path, field: info.name,
                               "dtype \(info.dtype.rawValue) cannot be converted; model tensors must be F32, F16, BF16 or F64")
        }
        // Chunks are read front to back once: drop what was decoded, so the resident set
        // stays near one chunk even for a tensor of gigabytes.
        let size = Int(info.dtype.bitSize / 8)
        releaseRaw((first * size)..<((first + n) * size))
    }

    func releaseRaw(_ range: Range<Int>) {
        let base = Int(info.fileRange.lowerBound)
        file.release(bytes: (base + range.lowerBound)..<(base + range.upperBound))
    }

    func release() { file.release(info) }
}

/// A tensor of an open `.qstar` file (raw: a view of the map; zstd: decoded once, owned).
struct QStarSource: TensorSource {
    let file: QStarFile
    let view: TensorView
    let path: String

    init(file: QStarFile, info: TensorInfo, path: String) throws(InteropError) {
        self.file = file
        self.path = path
        do throws(QStarError) {
            view = try file.tensor(info)
        } catch {
            throw InteropError(error).naming(path)
        }
    }

    var elementCount: Int { view.elementCount }
    var storedDType: DType? { view.dtype }
    var rawBytes: UnsafeRawBufferPointer? { view.bytes }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        do throws(QStarError) {
            try view.decodeFloat32(elements: range, into: out)
        } catch {
            throw InteropError(error).naming(path)
        }
        // Read front to back once: let the decoded part of a mapped tensor go.
        let inner = UInt64(view.shape.last ?? 1)
        if let from = view.dtype.byteCount(elementCount: UInt64(range.lowerBound), innermost: inner),
           let to = view.dtype.byteCount(elementCount: UInt64(range.upperBound), innermost: inner) {
            releaseRaw(Int(from)..<Int(to))
        }
    }

    /// Raw tensors are views of the file mapping, whose pages can go once copied; a zstd
    /// tensor's decoded bytes are owned memory and are freed with the view instead.
    func releaseRaw(_ range: Range<Int>) {
        guard view.info.encoding == .raw else { return }
        file.releaseStoredBytes(of: view.info, range: range)
    }

    func release() { file.releaseStoredBytes(of: view.info) }
}

/// Row 0 of a `[2, H]` source times a scale (Quiet-STaR thought embeddings, import direction).
/// Never a raw copy: the product is a new value.
struct ScaledRowSource<Base: TensorSource>: TensorSource {
    let base: Base
    let width: Int
    let scale: Float

    var elementCount: Int { width }
    var storedDType: DType? { nil }
    var rawBytes: UnsafeRawBufferPointer? { nil }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        try base.read(range, into: out)
        for i in out.indices { out[i] *= scale }
    }

    func release() { base.release() }
}


/// Values computed in memory (small: the exported `[2, H]` thought parameters).
struct ArraySource: TensorSource {
    let values: [Float]

    var elementCount: Int { values.count }
    var storedDType: DType? { nil }
    var rawBytes: UnsafeRawBufferPointer? { nil }

    func read(_ range: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) throws(InteropError) {
        for (i, j) in range.enumerated() { out[i] = values[j] }
    }

    func release() {}
}
