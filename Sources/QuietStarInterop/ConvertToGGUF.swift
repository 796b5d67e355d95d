import Foundation
import QuietStarCheckpoint
import QuietStarFormat
import QuietStarGGUF
import QuietStarTokenizer

/// `.qstar` -> a GGUF v3 file that llama.cpp loads: architecture `qwen2` for models with q/k/v
/// biases (NeoX rotary, rows as we store them), `llama` otherwise (q/k rows put into
/// llama.cpp's interleaved order, `RopeRowOrder`); llama.cpp's tensor names and metadata keys;
/// the tokenizer as `tokenizer.ggml.*` (`GGUFTokenizerExport`).
///
/// dtype: `options.dtype` (f32, f16, bf16 or q8_0) for matrices, or each tensor's own; vectors
/// are F32 (llama.cpp's norms and biases are). q8_0 is written as Q8_0 byte for byte.
///
/// What GGUF cannot express is reported in the notes and, where it is data, kept under
/// `quietstar.*` keys that llama.cpp ignores: the thought parameters (`quietstar.*` settings
/// verbatim, each thought tensor as `quietstar.tensor.<name>` f32 values with
/// `quietstar.tensor.<name>.shape`), and a sliding window (llama.cpp's llama has none).
public func convertToGGUF(input: String, output: String, options: ConversionOptions = ConversionOptions(),
                          progress: ((ConversionProgress) -> Void)? = nil) throws(InteropError) -> ConversionReport {
    let started = DispatchTime.now().uptimeNanoseconds
    if let d = options.dtype, ggmlType(d) == nil {
        throw InteropError(.usage, field: "--dtype", "\(d.name) cannot be stored in GGUF; use f32, f16, bf16 or q8_0")
    }
    let file = try openQStar(input)
    let config: ModelConfig
    do { config = try ModelConfig(metadata: file.metadata) } catch {
        throw InteropError(.invalidInput, path: input, field: error.key, error.message)
    }
    let architecture: GGUFArchitecture = config.attentionBias ? .qwen2 : .llama
    var notes: [String] = []
    var tally = DTypeTally()
    switch config.ropeScaling {
    case .none, .linear: break
    default:
        throw InteropError(.unsupported, path: input, field: "llama.rope_scaling.type",
                           "\(config.ropeScaling) rope scaling has no GGUF metadata form this exporter writes (none, linear)")
    }

    // Tensors: the table first (GGUF writes it before any data), each with its source.
    struct Planned { var tensor: GGUFWriter.Tensor; var dtype: DType; var open: () throws(InteropError) -> any TensorSource; var bytes: UInt64 }
    var plan: [Planned] = []
    var consumed = Set<String>()
    for entry in TensorNames.model(config) {
        guard let info = file.info(entry.name) else {
            throw InteropError(.invalidInput, path: input, field: entry.name, "tensor is missing (required by the llama.* metadata)")
        }
        guard info.shape == entry.shape.map({ UInt64($0) }) else {
            throw InteropError(.invalidInput, path: input, field: entry.name, offset: info.entryOffset,
                               "shape \(info.shape) does not match \(entry.shape) implied by the llama.* metadata")
        }
        guard let stored = info.dtype, stored.isFloatingPoint else {
            throw InteropError(.unsupported, path: input, field: entry.name, "\(info.dtypeName) is not a float type")
        }
        consumed.insert(entry.name)
        var dtype = DTypePolicy.target(requested: options.dtype ?? stored, source: stored, shape: info.shape, name: entry.name)
        if info.shape.count < 2 { dtype = .f32 }
        if options.dtype == .q8_0 && info.shape.count >= 2 && dtype != .q8_0 {
            notes.append("\(entry.name) kept as \(dtype.name): its innermost dimension \(info.shape.last!) is not a multiple of 32")
        }
        tally.add(dtype.name)
        var heads: Int?
        if architecture.permutesQK, let (_, part) = TensorNames.parseLayer(entry.name) {
            switch part {
            case .q, .qBias: heads = config.headCount
            case .k, .kBias: heads = config.kvHeadCount
            default: break
            }
        }
        let rows = Int(info.shape[0])   // a bias is rows of one element
        let open: () throws(InteropError) -> any TensorSource = { () throws(InteropError) in
            let base = try QStarSource(file: file, info: info, path: input)
            guard let heads else { return base }
            return RopeRowSource(base: base, rows: rows, heads: heads)
        }
        plan.append(Planned(tensor: GGUFWriter.Tensor(name: GGUFTensorNames.ggufName(forQStar: entry.name)!,
                                                      dims: info.shape.reversed(), type: ggmlType(dtype)!),
                            dtype: dtype, open: open, bytes: info.logicalByteCount ?? info.storedLength))
    }
    if architecture.permutesQK { notes.append("q and k rows put in llama.cpp's interleaved rotary order (llama architecture)") }

    // Metadata.
    let a = architecture.rawValue + "."
    var m: [(key: String, value: GGUFValue)] = [
        ("general.architecture", .string(architecture.rawValue)),
        ("general.name", .string(config.name ?? Paths.baseName(of: input))),
        ("general.file_type", .uint32(fileType(options.dtype ?? plan.first { $0.tensor.dims.count >= 2 }?.dtype ?? .f32))),
        ("general.quantization_version", .uint32(2)),
        (a + "context_length", .uint32(UInt32(config.contextLength))),
        (a + "embedding_length", .uint32(UInt32(config.hiddenSize))),
        (a + "block_count", .uint32(UInt32(config.layerCount))),
        (a + "feed_forward_length", .uint32(UInt32(config.intermediateSize))),
        (a + "attention.head_count", .uint32(UInt32(config.headCount))),
        (a + "attention.head_count_kv", .uint32(UInt32(config.kvHeadCount))),
        (a + "attention.key_length", .uint32(UInt32(config.headDim))),
        (a + "attention.value_length", .uint32(UInt32(config.headDim))),
        (a + "attention.layer_norm_rms_epsilon", .float32(Float(config.rmsNormEps))),
        (a + "rope.freq_base", .float32(Float(config.ropeTheta))),
        (a + "rope.dimension_count", .uint32(UInt32(config.headDim))),
        (a + "vocab_size", .uint32(UInt32(config.vocabSize))),
    ]
    if case let .linear(factor) = config.ropeScaling {
        m.append((a + "rope.scaling.type", .string("linear")))
        m.append((a + "rope.scaling.factor", .float32(Float(factor))))
    }
    if let window = config.slidingWindow {
        m.append(("quietstar.sliding_window", .uint32(UInt32(window))))
        notes.append("sliding window of \(window) not expressible for llama.cpp (it attends to every key); kept as quietstar.sliding_window")
    }
    let spec: TokenizerSpec
    do { spec = try TokenizerSpec(metadata: file.metadata) } catch { throw TokenizerBridge.located(error, path: input) }
    do { m += try GGUFTokenizerExport.metadata(spec, vocabSize: config.vocabSize, bosTokenId: config.bosTokenId) } catch {
        switch error {
        case let .unsupported(why): throw InteropError(.unsupported, path: input, field: "tokenizer.*", why)
        }
    }

    // Thought parameters: GGUF readers refuse tensors they do not expect, so these are metadata.
    var quietStar = false
    for (k, v) in file.metadata.entries where k.hasPrefix("quietstar.") { m.append((k, GGUFValue(v))) }
    for info in file.tensors where !consumed.contains(info.name) {
        guard TensorNames.Thought(rawValue: info.name) != nil else {
            if info.name.hasPrefix("optimizer.") { continue }
            throw InteropError(.unsupported, path: input, field: info.name, offset: info.entryOffset, "tensor has no GGUF counterpart")
        }
        quietStar = true
        let source = try QStarSource(file: file, info: info, path: input)
        var values = [Float](repeating: 0, count: source.elementCount)
        try values.withUnsafeMutableBufferPointer { (b) throws(InteropError) in try source.read(0..<b.count, into: b) }
        m.append(("quietstar.tensor.\(info.name)", .array(.float32, values.map { .float32($0) })))
        m.append(("quietstar.tensor.\(info.name).shape", .array(.uint64, info.shape.map { .uint64($0) })))
    }
    if quietStar {
        notes.append("thought parameters and the mixing head have no llama.cpp form: stored as quietstar.* metadata, which llama.cpp ignores (it runs the base model)")
    }

    let writer: GGUFWriter
    do { writer = try GGUFWriter(path: output, metadata: m, tensors: plan.map(\.tensor)) } catch { throw InteropError(error) }
    let pump = TensorPump()
    let total = plan.reduce(UInt64(0)) { $0 + $1.bytes }
    var done: UInt64 = 0
    do throws(InteropError) {
        for (i, t) in plan.enumerated() {
            progress?(ConversionProgress(tensorIndex: i, tensorCount: plan.count, tensorName: t.tensor.name, bytesDone: done,
                                         bytesTotal: total, elapsed: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9))
            let source = try t.open()
            do { try writer.beginTensor(t.tensor.name) } catch { throw InteropError(error) }
            try pump.pump(source, as: t.dtype, name: t.tensor.name, path: output) { (bytes: UnsafeRawBufferPointer) throws(InteropError) in
                do throws(GGUFError) { try writer.append(bytes) } catch { throw InteropError(error) }
            }
            do { try writer.endTensor() } catch { throw InteropError(error) }
            source.release()
            done += t.bytes
        }
        do { try writer.finish() } catch { throw InteropError(error) }
    } catch {
        writer.abort()
        throw error
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? NSNumber)?.uint64Value ?? 0
    return ConversionReport(
        output: output, tensorCount: plan.count, bytesRead: total, bytesWritten: size,
        dtypeCounts: tally.sorted, quietStar: quietStar, notes: notes, warnings: [],
        seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
}

/// The ggml type with the same bytes as one of our dtypes.
func ggmlType(_ d: DType) -> GGMLType? {
    switch d {
    case .f32: .f32
    case .f16: .f16
    case .bf16: .bf16
    case .q8_0: .q8_0
    default: nil
    }
}

/// `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`) for the matrices' dtype.
func fileType(_ d: DType) -> UInt32 {
    switch d {
    case .f16: 1
    case .q8_0: 7
    case .bf16: 32
    default: 0
    }
}
