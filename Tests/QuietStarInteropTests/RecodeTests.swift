import Foundation
import QuietStarFormat
import QuietStarTestSupport
import Testing
@testable import QuietStarInterop

/// Error of recoding f32 weights to each dtype, measured on every f32 fixture and held to the
/// bounds documented in `quietstar-convert recode --help`.
@Suite struct RecodeTests {
    static let f32Models = Fixtures.hfModels.filter { $0 != "llama-bf16" }

    struct Errors: CustomStringConvertible {
        var maxAbs: Float = 0
        var maxRelative: Float = 0      // over |x| >= 2^-14 (normal f16 range)
        var maxBlockRelative: Float = 0 // q8_0: max |err| / absmax(block)
        var description: String { "max abs \(maxAbs), max rel \(maxRelative), max err/absmax(block) \(maxBlockRelative)" }
    }

    func measure(_ model: String, _ dtype: DType) throws -> Errors {
        let dir = TemporaryDirectory()
        let source = try ConvertedFixtures.shared.qstar(model)
        let out = dir.file("out.qstar")
        let report = try recode(input: source, output: out, options: ConversionOptions(dtype: dtype))
        let a = try QStarFile.open(path: source), b = try QStarFile.open(path: out)
        #expect(b.metadata == a.metadata)
        #expect(report.tensorCount == a.tensors.count)
        var errors = Errors()
        for info in a.tensors {
            let x = try a.tensor(info).toFloat32()
            let y = try b.tensor(info.name).toFloat32()
            let stored = try #require(b.info(info.name)?.dtype)
            if info.shape.count < 2 {
                #expect(stored == .f32 && x == y, "\(info.name): vectors stay exact f32")
                continue
            }
            #expect(stored == dtype)
            for i in x.indices {
                let e = abs(x[i] - y[i])
                errors.maxAbs = max(errors.maxAbs, e)
                if abs(x[i]) >= 0x1p-14 { errors.maxRelative = max(errors.maxRelative, e / abs(x[i])) }
            }
            if dtype == .q8_0 {
                for block in stride(from: 0, to: x.count, by: 32) {
                    let amax = x[block..<(block + 32)].map(abs).max()!
                    for i in block..<(block + 32) where amax > 0 {
                        errors.maxBlockRelative = max(errors.maxBlockRelative, abs(x[i] - y[i]) / amax)
                    }
                }
            }
        }
        return errors
    }

    @Test(arguments: f32Models)
    func recodeErrorsStayWithinDocumentedBounds(model: String) throws {
        let f16 = try measure(model, .f16)
        #expect(f16.maxRelative <= 0x1p-11, "f16 \(model): \(f16)")
        let bf16 = try measure(model, .bf16)
        #expect(bf16.maxRelative <= 0x1p-8, "bf16 \(model): \(bf16)")
        let q8 = try measure(model, .q8_0)
        #expect(q8.maxBlockRelative <= 1.001 / 254, "q8_0 \(model): \(q8)")
        // Not vacuous: each dtype does lose precision on these weights.
        #expect(f16.maxAbs > 0 && bf16.maxRelative > 0x1p-9 && q8.maxBlockRelative > 1.0 / 508)
    }

    @Test func recodeBackToF32AndCompressionAreLossless() throws {
        let dir = TemporaryDirectory()
        let source = try ConvertedFixtures.shared.qstar("quietstar-mistral")
        let zstd = dir.file("z.qstar"), raw = dir.file("raw.qstar")
        _ = try recode(input: source, output: zstd, options: ConversionOptions(compression: .zstd))
        _ = try recode(input: zstd, output: raw, options: ConversionOptions(compression: .raw))
        let a = try QStarFile.open(path: source), z = try QStarFile.open(path: zstd), r = try QStarFile.open(path: raw)
        #expect(z.tensors.allSatisfy { $0.encoding == .zstd })
        // Same tensors, same order, same bytes; the raw file is byte-identical to the original.
        for info in a.tensors {
            #expect(bytesEqual(try z.tensor(info.name), try a.tensor(info)))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: raw)) == (try Data(contentsOf: URL(fileURLWithPath: source))))
        #expect(r.metadata == a.metadata)

        // bf16 -> f32 widening is exact.
        let bf16 = dir.file("bf16.qstar"), wide = dir.file("wide.qstar")
        _ = try recode(input: source, output: bf16, options: ConversionOptions(dtype: .bf16))
        _ = try recode(input: bf16, output: wide, options: ConversionOptions(dtype: .f32))
        let b = try QStarFile.open(path: bf16), w = try QStarFile.open(path: wide)
        for info in b.tensors { #expect(try w.tensor(info.name).toFloat32() == (try b.tensor(info).toFloat32())) }
    }

    @Test func recodeInPlaceReplacesAtomically() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("m.qstar")
        try FileManager.default.copyItem(atPath: try ConvertedFixtures.shared.qstar("llama3"), toPath: path)
        let before = try QStarFile.open(path: path)  // stays mapped and valid across the replacement
        _ = try recode(input: path, output: path, options: ConversionOptions(dtype: .q8_0, compression: .zstd))
        let after = try QStarFile.open(path: path)
        #expect(after.info("layers.0.attn.q.weight")?.dtype == .q8_0)
        #expect(before.info("layers.0.attn.q.weight")?.dtype == .f32)
        #expect(before.verifyAll().isEmpty)
        #expect(dir.contents == ["m.qstar"])
    }

    /// Optimizer moments and integer tensors are never recoded; q8_0 falls back to f32 for a
    /// matrix whose rows are not a multiple of 32.
    @Test func policyExceptions() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("train.qstar")
        let writer = try QStarWriter(path: path)
        let m: [Float] = (0..<64).map { Float($0) / 7 }
        try writer.addTensor(name: "w", dtype: .f32, shape: [2, 32], float32: m)
        try writer.addTensor(name: "odd", dtype: .f32, shape: [4, 16], float32: m)
        try writer.addTensor(name: "optimizer.adamw.m.w", dtype: .f32, shape: [2, 32], float32: m)
        let ints: [Int32] = [1, 2, 3]
        try ints.withUnsafeBytes { try writer.addTensor(name: "train.ids", dtype: .i32, shape: [3], bytes: $0) }
        try writer.finish(metadata: Metadata([("train.step", .uint(7))]))
        let out = dir.file("q8.qstar")
        let report = try recode(input: path, output: out, options: ConversionOptions(dtype: .q8_0))
        let file = try QStarFile.open(path: out)
        #expect(file.info("w")?.dtype == .q8_0)
        #expect(file.info("odd")?.dtype == .f32)
        #expect(file.info("optimizer.adamw.m.w")?.dtype == .f32)
        #expect(try file.tensor("optimizer.adamw.m.w").toFloat32() == m)
        #expect(file.info("train.ids")?.dtype == .i32)
        #expect(bytesEqual(try file.tensor("train.ids"), try QStarFile.open(path: path).tensor("train.ids")))
        #expect(file.metadata["train.step"] == .uint(7))
        #expect(report.notes.contains { $0.contains("odd") })
    }
}
