import Foundation
import QuietStarFormat

/// `.qstar` -> `.qstar` with other dtypes and/or compression. Metadata (tokenizer, provenance,
/// training state) is carried over unchanged; tensors are re-encoded one at a time, and a
/// tensor whose dtype does not change is copied bit for bit (only its encoding may change).
/// `output` may equal `input`: the new file is renamed over it only when complete.
public func recode(input: String, output: String, options: ConversionOptions = ConversionOptions(),
                   progress: ((ConversionProgress) -> Void)? = nil) throws(InteropError) -> ConversionReport {
    let started = DispatchTime.now().uptimeNanoseconds
    let file = try openQStar(input)
    var plan: [PlannedTensor] = []
    var tally = DTypeTally()
    var notes: [String] = []
    for info in file.tensors {
        guard let stored = info.dtype else {
            throw InteropError(.unsupported, path: input, field: info.name, offset: info.entryOffset,
                               "\(info.dtypeName) is a dtype this version does not know")
        }
        guard let storedEncoding = info.encoding else {
            throw InteropError(.unsupported, path: input, field: info.name, offset: info.entryOffset,
                               "\(info.encodingName) is an encoding this version does not know")
        }
        let dtype = DTypePolicy.target(requested: options.dtype, source: stored, shape: info.shape, name: info.name)
        if options.dtype == .q8_0 && info.shape.count >= 2 && stored.isFloatingPoint && !info.name.hasPrefix("optimizer.") && dtype != .q8_0 {
            notes.append("\(info.name) kept as \(dtype.name): its innermost dimension \(info.shape.last!) is not a multiple of 32")
        }
        tally.add(dtype.name)
        plan.append(PlannedTensor(
            name: info.name, shape: info.shape, dtype: dtype, encoding: options.compression ?? storedEncoding,
            sourceBytes: info.logicalByteCount ?? info.storedLength) { () throws(InteropError) in
                try QStarSource(file: file, info: info, path: input)
            })
    }
    let (read, written) = try writeQStar(path: output, tensors: plan, metadata: file.metadata,
                                         compressionLevel: options.compressionLevel, progress: progress)
    let quietStar = file.info("thought.start_embedding") != nil
    return ConversionReport(
        output: output, tensorCount: plan.count, bytesRead: read, bytesWritten: written,
        dtypeCounts: tally.sorted, quietStar: quietStar, notes: notes, warnings: [],
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}

/// Opens a `.qstar` input, telling a missing file (exit 66) from a damaged one (exit 65).
func openQStar(_ path: String) throws(InteropError) -> QStarFile {
    guard FileManager.default.fileExists(atPath: path) else {
        throw InteropError(.missingInput, path: path, "file not found")
    }
    do {
        return try QStarFile.open(path: path)
    } catch {
        throw InteropError(error).naming(path)
    }
}
