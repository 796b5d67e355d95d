import Foundation
import Testing

/// Inputs far larger than memory should need stream through `quietstar-run` and through the
/// trainer's data reader with peak RSS set by the model and the batch, not by the input: each
/// test runs the same command on a small and on a 200-330 MB input it generates, and bounds the
/// large run's peak (the child's own `VmHWM`) both absolutely, well under the input's size,
/// and against the small run's.
@Suite(.serialized) struct StreamingMemoryTests {
    static let model = CLI.repositoryRoot.appendingPathComponent("fixtures/default/quietstar-arithmetic.qstar").path

    /// Writes `count` lines, `line(i)` each (without its newline), through a 4 MiB buffer.
    static func writeLines(_ path: String, count: Int, _ line: (Int) -> [UInt8]) throws -> Int {
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(8 << 20)
        var total = 0
        for i in 0..<count {
            buffer += line(i)
            buffer.append(0x0A)
            if buffer.count >= 4 << 20 {
                try handle.write(contentsOf: buffer)
                total += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        return total + buffer.count
    }

    /// Bytes of filler text: digits and operators, as in the model's own data.
    static func filler(_ n: Int) -> [UInt8] { (0..<n).map { Array("12+30=42 ".utf8)[$0 % 9] } }

    /// `quietstar-run score --shard 0/40000` reads every line of the input (other shards' lines
    /// are read and dropped) and scores 1 in 40000; lines 0, 120000 and 240000 are 17 MiB, over
    /// the 16 MiB line limit, and get error records. The large input's filler lines are 1 KiB,
    /// the small one's 64 bytes.
    @Test func quietstarRunStreamsAHugeInput() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = Self.filler(17 << 20), short = Array("12+30=42".utf8)
        var peaks: [Double] = []
        var sizes: [Int] = []
        for fillerBytes in [64, 1024] {
            let input = dir.appendingPathComponent("input-\(fillerBytes).txt").path
            let body = Self.filler(fillerBytes)
            sizes.append(try Self.writeLines(input, count: 280_000) { i in
                guard i % 40_000 == 0 else { return body }
                return (i / 40_000) % 3 == 0 ? long : short
            })
            let r = try CLI.runMeasured("quietstar-run", ["score", "--model", Self.model, "--format", "jsonl",
                                                           "--shard", "0/40000", "--threads", "1", input], in: dir)
            // 1: some lines failed (the three long ones), their error records written in their place.
            #expect(r.status == 1, "\(r.stderr)")
            let records = r.stdout.split(separator: "\n")
            #expect(records.count == 7, "one record per line of the shard")
            #expect(records.filter { $0.contains("longer than the 16 MiB limit") }.count == 3, "\(r.stdout)")
            peaks.append(r.peakMiB)
            try FileManager.default.removeItem(atPath: input)
        }
        Self.expectFlatPeak(sizes: sizes, peaks: peaks, largeAtLeast: 300 << 20, input: "input")
    }

    /// `quietstar-train pretrain` on a JSONL whose one example comes after ~200 MB of blank
    /// lines (4 KiB of spaces each; the reader passes over them in 1 MiB reads), one step: the
    /// reader must go through the whole file to find the example. (200 MB, not 300: a debug
    /// build checks blank lines byte by byte at ~40 ns a byte.)
    @Test func trainerDataReaderStreamsAHugeFile() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let blank = [UInt8](repeating: 0x20, count: 4095)
        let example = Array(#"{"prompt": "12+30=", "completion": "42"}"#.utf8)
        var peaks: [Double] = []
        var sizes: [Int] = []
        for count in [2_000, 52_000] {
            let data = dir.appendingPathComponent("data-\(count).jsonl").path
            sizes.append(try Self.writeLines(data, count: count) { $0 == count - 1 ? example : blank })
            let r = try CLI.runMeasured("quietstar-train", [
                "pretrain", "--data", data, "--layers", "1", "--hidden", "16", "--heads", "2", "--ffn", "32",
                "--context", "32", "--batch-size", "1", "--steps", "1", "--warmup", "0", "--threads", "1", "--seed", "1",
                "-o", dir.appendingPathComponent("run-\(count)").path], in: dir)
            #expect(r.status == 0, "\(r.stderr)")
            peaks.append(r.peakMiB)
            try FileManager.default.removeItem(atPath: data)
        }
        Self.expectFlatPeak(sizes: sizes, peaks: peaks, largeAtLeast: 200 << 20, input: "data file")
    }

    /// The small run's and the large run's peak RSS (`sizes`, `peaks`: small first): the large
    /// input really is large, both peaks were measured, and the large one stays under 160 MiB and
    /// within 32 MiB of the small one.
    static func expectFlatPeak(sizes: [Int], peaks: [Double], largeAtLeast bytes: Int, input: String,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sizes[1] > bytes, "the large input is \(sizes[1] >> 20) MiB", sourceLocation: sourceLocation)
        #expect(peaks.allSatisfy { $0 > 1 }, "no peak RSS measured", sourceLocation: sourceLocation)
        #expect(peaks[1] < 160, "peak RSS \(peaks[1]) MiB for a \(sizes[1] >> 20) MiB \(input)", sourceLocation: sourceLocation)
        #expect(peaks[1] < peaks[0] + 32, "peak RSS grew from \(peaks[0]) to \(peaks[1]) MiB with the \(input)",
                sourceLocation: sourceLocation)
    }
}
