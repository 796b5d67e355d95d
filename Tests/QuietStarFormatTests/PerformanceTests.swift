import Foundation
import Testing
@testable import QuietStarFormat

/// Cost properties that must hold even in debug builds: opening never reads tensor data, and
/// hostile counts never turn into work or memory.
@Suite struct PerformanceTests {
    /// A 64 GiB file whose data region is a hole: open must be instant (it reads the header
    /// and index only) and must not fault in the data.
    @Test func openCostIsIndependentOfTensorBytes() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/sparse.qstar"
        let dataLength: UInt64 = 64 << 30
        var index = IndexBuilder()
        index.u64(0)
        index.u64(2)
        index.tensor(Array("a".utf8), dtype: 6, dims: [dataLength / 2], offset: 64, storedLength: dataLength / 2)
        index.tensor(Array("b".utf8), dtype: 0, dims: [dataLength / 8], offset: 64 + dataLength / 2, storedLength: dataLength / 2)
        let indexOffset = 64 + dataLength
        let header = QStarHeader(version: QStarFile.supportedVersion, fileLength: indexOffset + UInt64(index.bytes.count),
                                 indexOffset: indexOffset, indexLength: UInt64(index.bytes.count),
                                 indexChecksum: XXH64.hash(index.bytes))
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        _ = header.encoded().withUnsafeBytes { pwrite(fd, $0.baseAddress, 64, 0) }
        _ = index.bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(indexOffset)) }
        close(fd)
        var st = stat()
        stat(path, &st)
        try #require(st.st_size == off_t(indexOffset) + off_t(index.bytes.count))
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<10 {
            let f = try QStarFile.open(path: path)
            #expect(f.tensors.count == 2 && f.tensors[1].elementCount == dataLength / 8)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        #expect(seconds < 2, "10 opens of a 64 GiB file took \(seconds) s")
    }

    /// A few thousand tensors open quickly even unoptimised (100k take ~40 ms of CPU in release).
    @Test func manyTensorsOpenQuickly() throws {
        let dir = TestSupport.temporaryDirectory()
        defer { TestSupport.remove(dir) }
        let path = dir + "/many.qstar"
        let w = try QStarWriter(path: path)
        let one: [UInt8] = [1]
        for i in 0..<5000 {
            try one.withUnsafeBytes { try w.addTensor(name: "layers.\(i / 10).t\(i % 10)", dtype: .u8, shape: [1], bytes: $0) }
        }
        try w.finish(metadata: Metadata())
        let start = DispatchTime.now().uptimeNanoseconds
        let f = try QStarFile.open(path: path)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        #expect(f.tensors.count == 5000 && f.info("layers.499.t9")?.offset == f.tensors[4999].offset)
        #expect(seconds < 2, "open of 5000 tensors took \(seconds) s")
    }
}
