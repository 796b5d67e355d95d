import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarJSON

/// `.qstar` -> a Hugging Face model folder that `AutoModelForCausalLM.from_pretrained` loads:
/// `config.json`, `model.safetensors` (or shards plus `model.safetensors.index.json`),
/// `tokenizer.json` / `tokenizer_config.json` (the verbatim originals when the model was
/// imported), and `generation_config.json` when one was imported.
///
/// A model with thought parameters is written in the published Quiet-STaR layout:
/// `start_embedding` / `end_embedding` `[2, hidden]` with row 0 = effective vector / 100 (chosen
/// so that multiplying by 100 in f32 gives the stored vector back whenever such a value exists)
/// and row 1 = the reference initialisation `log(std(embed_tokens, dim=0) * 1e-2 / 100)`, which
/// only the reference's unused reparameterisation option reads; and `talk_head.0.{0,2,4}`.
///
/// The folder is assembled under a temporary name next to `outputDirectory` and renamed into
/// place at the end, so a failed export leaves nothing behind. `outputDirectory` must not exist
/// or be empty. dtype: `options.dtype` (f32, f16 or bf16) for every tensor, or each tensor's
/// own dtype with q8_0 dequantised to f32. Optimizer moments are not exported.
public func convertToHF(input: String, outputDirectory: String, options: ConversionOptions = ConversionOptions(),
                        progress: ((ConversionProgress) -> Void)? = nil) throws(InteropError) -> ConversionReport {
    let started = DispatchTime.now().uptimeNanoseconds
    if let requested = options.dtype, requested.safetensorsDType == nil || !requested.isFloatingPoint {
        throw InteropError(.usage, field: "--dtype", "\(requested.name) cannot be stored in safetensors; use f32, f16 or bf16")
    }
    let file = try openQStar(input)
    let config = try HFConfig.modelConfig(metadata: file.metadata, path: input)
    let architecture = HFArchitecture.forExport(config)
    var notes: [String] = []
    var tally = DTypeTally()

    struct Planned {
        var hfName: String
        var shape: [UInt64]
        var dtype: DType
        var sourceBytes: UInt64
        var open: () throws(InteropError) -> any TensorSource
    }
    func view(_ info: TensorInfo) throws(InteropError) -> QStarSource {
        try QStarSource(file: file, info: info, path: input)
    }
    func outputDType(_ stored: DType?, name: String) throws(InteropError) -> DType {
        guard let stored, stored.isFloatingPoint else {
            throw InteropError(.unsupported, path: input, field: name, "\(stored?.name ?? "unknown dtype") is not a float type")
        }
        if let requested = options.dtype { return requested }
        if stored == .q8_0 { return .f32 }
        return stored
    }

    var plan: [Planned] = []
    var consumed = Set<String>()
    for entry in HFTensorNames.expectedTensors(config) {
        guard let info = file.info(entry.qstarName) else {
            throw InteropError(.invalidInput, path: input, field: entry.qstarName, "tensor is missing (required by the llama.* metadata)")
        }
        guard info.shape == entry.shape else {
            throw InteropError(.invalidInput, path: input, field: entry.qstarName, offset: info.entryOffset,
                               "shape \(info.shape) does not match \(entry.shape) implied by the llama.* metadata")
        }
        consumed.insert(entry.qstarName)
        let dtype = try outputDType(info.dtype, name: info.name)
        if info.dtype == .q8_0 && options.dtype == nil { notes.append("\(info.name) dequantised from q8_0 to f32") }
        tally.add(dtype.name)
        plan.append(Planned(hfName: entry.hfName, shape: entry.shape, dtype: dtype,
                            sourceBytes: info.logicalByteCount ?? info.storedLength) { () throws(InteropError) in try view(info) })
    }

    let names = Set(file.tensors.map(\.name))
    let quietStar = try QuietStarLayout.detect(qstarNames: names, hiddenSize: UInt64(config.hiddenSize), path: input)
    if quietStar {
        try QuietStarLayout.checkExportable(file.metadata, path: input)
        let hidden = config.hiddenSize
        // Row 1 needs statistics of the embedding table: computed once, before writing.
        var rowOne: [Float]? = nil
        for e in QuietStarLayout.entries(hiddenSize: UInt64(config.hiddenSize)) {
            guard let info = file.info(e.qstarName) else { continue }
            guard info.shape == e.qstarShape else {
                throw InteropError(.invalidInput, path: input, field: e.qstarName, offset: info.entryOffset,
                                   "shape \(info.shape) does not match \(e.qstarShape) for hidden size \(hidden)")
            }
            consumed.insert(e.qstarName)
            let dtype = try outputDType(info.dtype, name: info.name)
            tally.add(dtype.name)
            switch e.role {
            case .plain:
                plan.append(Planned(hfName: e.hfName, shape: e.hfShape, dtype: dtype,
                                    sourceBytes: info.logicalByteCount ?? info.storedLength) { () throws(InteropError) in try view(info) })
            case .thoughtEmbedding:
                if rowOne == nil {
                    let embedding = try view(file.info("token_embedding.weight")!)
                    rowOne = try QuietStarLayout.referenceRowOne(vocab: config.vocabSize, hidden: hidden) { (rows, out) throws(InteropError) in
                        try embedding.read((rows.lowerBound * hidden)..<(rows.upperBound * hidden), into: out)
                    }
                }
                let effective = try view(info)
                var values = [Float](repeating: 0, count: hidden)
                try values.withUnsafeMutableBufferPointer { (buffer) throws(InteropError) in try effective.read(0..<hidden, into: buffer) }
                let rowZero = values.map { QuietStarLayout.unscaled($0) }
                let both = rowZero + rowOne!
                plan.append(Planned(hfName: e.hfName, shape: e.hfShape, dtype: dtype, sourceBytes: UInt64(4 * hidden)) {
                    ArraySource(values: both)
                })
            }
        }
        notes.append("Quiet-STaR layout: start_embedding/end_embedding row 0 = stored vector / \(Int(QuietStarLayout.embeddingScale)), row 1 = reference initialisation; mixing head as talk_head.0")
    }
    var droppedOptimizer = 0
    for info in file.tensors where !consumed.contains(info.name) {
        if info.name.hasPrefix("optimizer.") { droppedOptimizer += 1; continue }
        throw InteropError(.unsupported, path: input, field: info.name, offset: info.entryOffset,
                           "tensor has no Hugging Face counterpart")
    }
    if droppedOptimizer > 0 { notes.append("\(droppedOptimizer) optimizer tensors not exported (training state has no Hugging Face form)") }

    let tokenizerFiles = try TokenizerBridge.exportHF(metadata: file.metadata, path: input)
    if tokenizerFiles == nil { notes.append("no tokenizer written: this model's tokenizer has no Hugging Face tokenizer.json form") }

    // Shards: consecutive tensors, each shard at most maxShardBytes (a bigger tensor alone).
    var shardsOfTensors: [[Int]] = [[]]
    var shardBytes: UInt64 = 0
    for (i, t) in plan.enumerated() {
        let bytes = t.dtype.byteCount(elementCount: t.shape.reduce(1, *), innermost: t.shape.last ?? 1)!
        if !shardsOfTensors[shardsOfTensors.count - 1].isEmpty && shardBytes + bytes > options.maxShardBytes {
            shardsOfTensors.append([])
            shardBytes = 0
        }
        shardsOfTensors[shardsOfTensors.count - 1].append(i)
        shardBytes += bytes
    }
    let shardCount = shardsOfTensors.count
    func shardName(_ s: Int) -> String {
        if shardCount == 1 { return HFCheckpoint.singleFileName }
        func pad(_ n: Int) -> String { let t = String(n); return String(repeating: "0", count: max(0, 5 - t.count)) + t }
        return "model-\(pad(s + 1))-of-\(pad(shardCount)).safetensors"
    }

    let staging = try StagingDirectory(destination: outputDirectory)
    let startedWriting = DispatchTime.now().uptimeNanoseconds
    let totalBytes = plan.reduce(UInt64(0)) { $0 + $1.sourceBytes }
    var done: UInt64 = 0
    var totalSize: UInt64 = 0
    var weightMap: [(key: String, value: JSONValue)] = []
    let pump = TensorPump()
    do throws(InteropError) {
        for (s, members) in shardsOfTensors.enumerated() {
            let entries = members.map { SafetensorsWriter.Entry(name: plan[$0].hfName, dtype: plan[$0].dtype.safetensorsDType!, shape: plan[$0].shape) }
            let writer = try SafetensorsWriter(path: Paths.join(staging.path, shardName(s)), entries: entries,
                                               metadata: [("format", "pt")])
            for i in members {
                let t = plan[i]
                progress?(ConversionProgress(tensorIndex: i, tensorCount: plan.count, tensorName: t.hfName, bytesDone: done,
                                             bytesTotal: totalBytes,
                                             elapsed: Double(DispatchTime.now().uptimeNanoseconds - startedWriting) / 1e9))
                let source = try t.open()
                try writer.beginTensor(t.hfName)
                try pump.pump(source, as: t.dtype, name: t.hfName, path: writer.path) { (bytes: UnsafeRawBufferPointer) throws(InteropError) in
                    try writer.append(bytes)
                }
                try writer.endTensor()
                source.release()
                done += t.sourceBytes
                totalSize += t.dtype.byteCount(elementCount: t.shape.reduce(1, *), innermost: t.shape.last ?? 1)!
                weightMap.append((t.hfName, .string(shardName(s))))
            }
            try writer.finish()
        }
        if shardCount > 1 {
            let index = JSONValue.object([
                ("metadata", .object([("total_size", .integer(totalSize))])),
                ("weight_map", .object(weightMap)),
            ])
            try staging.write(HFCheckpoint.indexFileName, JSONWriter.document(index))
        }
        let torchDType: String
        switch options.dtype ?? plan.first!.dtype {
        case .f16: torchDType = "float16"
        case .bf16: torchDType = "bfloat16"
        default: torchDType = "float32"
        }
        let configJSON = HFConfig.configJSON(config, architecture: architecture, torchDType: torchDType, extra: quietStar ? QuietStarLayout.configEntries : [])
        try staging.write("config.json", JSONWriter.document(configJSON))
        if case let .string(generation)? = file.metadata["huggingface.generation_config"] {
            try staging.write("generation_config.json", generation)
        }
        if let tokenizerFiles {
            try staging.write("tokenizer.json", tokenizerFiles.tokenizerJSON)
            if let c = tokenizerFiles.tokenizerConfigJSON { try staging.write("tokenizer_config.json", c) }
        }
        try staging.commit()
    } catch {
        staging.abort()
        throw error
    }
    return ConversionReport(
        output: outputDirectory, tensorCount: plan.count, bytesRead: totalBytes, bytesWritten: totalSize,
        dtypeCounts: tally.sorted, quietStar: quietStar, notes: notes, warnings: [],
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}

extension QuietStarLayout {
    /// Row 0 of an exported thought parameter: `effective / 100`, nudged by one ulp when that
    /// makes `row0 * 100` (the import computation, in f32) give `effective` back exactly.
    static func unscaled(_ effective: Float) -> Float {
        let scale = Float(embeddingScale)
        let r = effective / scale
        for candidate in [r, r.nextUp, r.nextDown] where candidate * scale == effective { return candidate }
        return r
    }
}

/// A folder assembled under a temporary name and renamed into place when complete.
final class StagingDirectory {
    let destination: String
    let path: String
    private var done = false

    init(destination: String) throws(InteropError) {
        var trimmed = destination
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.destination = trimmed
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: trimmed, isDirectory: &isDirectory) {
            let contents = (try? fm.contentsOfDirectory(atPath: trimmed)) ?? ["?"]
            guard isDirectory.boolValue, contents.isEmpty else {
                throw InteropError(.cannotCreateOutput, path: trimmed, "already exists and is not an empty directory; choose a new name or remove it")
            }
        }
        path = trimmed + ".tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        do {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            throw InteropError(.cannotCreateOutput, path: trimmed, "cannot create \(path): \(error.localizedDescription)")
        }
    }

    deinit { abort() }

    /// Writes a small text file inside the folder (fsynced).
    func write(_ name: String, _ text: String) throws(InteropError) {
        try write(name, Array(text.utf8))
    }

    func write(_ name: String, _ data: Data) throws(InteropError) {
        try write(name, [UInt8](data))
    }

    func write(_ name: String, _ bytes: [UInt8]) throws(InteropError) {
        do throws(QStarError) {
            let file = try AtomicOutputFile(destination: Paths.join(path, name))
            try file.write(bytes)
            try file.commit()
        } catch {
            throw InteropError(error, as: .cannotCreateOutput)
        }
    }

    func commit() throws(InteropError) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: destination, isDirectory: &isDirectory) {
            // Checked empty at the start; rmdir fails (safely) if something appeared since.
            guard rmdir(destination) == 0 else {
                throw InteropError(.cannotCreateOutput, path: destination, "cannot replace: \(String(cString: strerror(errno)))")
            }
        }
        guard rename(path, destination) == 0 else {
            throw InteropError(.cannotCreateOutput, path: destination, "cannot rename the finished folder into place: \(String(cString: strerror(errno)))")
        }
        done = true
        try? AtomicOutputFile.syncDirectory(of: destination)
    }

    func abort() {
        guard !done else { return }
        done = true
        try? FileManager.default.removeItem(atPath: path)
    }
}
