import Foundation
import QuietStarFormat

/// One tensor of a planned `.qstar` output. The source is opened only when the tensor is
/// written (a zstd tensor of an input file is decoded then, and dropped right after).
struct PlannedTensor {
    var name: String
    var shape: [UInt64]
    var dtype: DType
    var encoding: TensorEncoding
    /// Logical bytes read from the input, for progress.
    var sourceBytes: UInt64
    var open: () throws(InteropError) -> any TensorSource
}

/// Streams planned tensors into a `.qstar` file through one `TensorPump` and finishes it with
/// `metadata`. Nothing appears at `path` unless every tensor and the index were written: on
/// any error the writer's temporary file is removed.
func writeQStar(path: String, tensors: [PlannedTensor], metadata: Metadata, compressionLevel: Int32,
                progress: ((ConversionProgress) -> Void)?) throws(InteropError) -> (bytesRead: UInt64, bytesWritten: UInt64) {
    let start = DispatchTime.now().uptimeNanoseconds
    func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
    let total = tensors.reduce(UInt64(0)) { $0 + $1.sourceBytes }

    let writer: QStarWriter
    do {
        writer = try QStarWriter(path: path, compressionLevel: compressionLevel)
    } catch {
        throw InteropError(error, as: .cannotCreateOutput).naming(path)
    }
    let pump = TensorPump()
    var done: UInt64 = 0
    do throws(InteropError) {
        for (i, t) in tensors.enumerated() {
            progress?(ConversionProgress(tensorIndex: i, tensorCount: tensors.count, tensorName: t.name,
                                         bytesDone: done, bytesTotal: total, elapsed: elapsed()))
            let source = try t.open()
            do {
                try writer.beginTensor(name: t.name, dtype: t.dtype, shape: t.shape.map { Int($0) }, encoding: t.encoding)
            } catch {
                throw InteropError(error, as: .cannotCreateOutput).naming(path)
            }
            // Progress inside a large tensor: the share of its output bytes written so far.
            let outputBytes = t.dtype.byteCount(elementCount: UInt64(source.elementCount), innermost: t.shape.last ?? 1) ?? 1
            var written: UInt64 = 0
            try pump.pump(source, as: t.dtype, name: t.name, path: path) { (bytes: UnsafeRawBufferPointer) throws(InteropError) in
                do throws(QStarError) {
                    try writer.append(bytes)
                } catch {
                    throw InteropError(error, as: .cannotCreateOutput).naming(path)
                }
                written += UInt64(bytes.count)
                if let progress, t.sourceBytes >= 1 << 24 {
                    let share = Double(written) / Double(max(1, outputBytes))
                    progress(ConversionProgress(tensorIndex: i, tensorCount: tensors.count, tensorName: t.name,
                                                bytesDone: done + UInt64(Double(t.sourceBytes) * min(1, share)),
                                                bytesTotal: total, elapsed: elapsed()))
                }
            }
            do {
                try writer.endTensor()
            } catch {
                throw InteropError(error, as: .cannotCreateOutput).naming(path)
            }
            source.release()
            done += t.sourceBytes
        }
        do {
            try writer.finish(metadata: metadata)
        } catch {
            throw InteropError(error, as: .cannotCreateOutput).naming(path)
        }
    } catch {
        writer.abort()
        throw error
    }
    progress?(ConversionProgress(tensorIndex: tensors.count, tensorCount: tensors.count, tensorName: "",
                                 bytesDone: total, bytesTotal: total, elapsed: elapsed()))
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
    return (total, size)
}

/// `xxh64:0123456789abcdef` of some bytes (the digest format of `provenance.*`).
func xxh64Digest(_ bytes: [UInt8]) -> String {
    let h = XXH64.hash(bytes)
    let hex = String(h, radix: 16, uppercase: true)
    return "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex
}

/// The version written into `provenance.creator_version`.
public enum QuietStarInteropVersion {
    public static let string = "0.1.0"
}
