import Foundation
import Testing
@testable import QuietStarFormat

/// XXH64 against the reference implementation: the official xxhsum sanity values (written here
/// from cli/xsum_sanity_check.c) and a larger table produced by the C library through Python's
/// `xxhash` (fixtures/format/reference/xxh64.json).
@Suite struct XXH64Tests {
    static let prime32: UInt64 = 2_654_435_761

    /// xxhsum's sanity buffer: byteGen = PRIME32; buf[i] = byteGen >> 56; byteGen *= PRIME64.
    static func sanityBuffer(_ n: Int) -> [UInt8] {
        var gen: UInt64 = prime32
        return (0..<n).map { _ in
            defer { gen = gen &* 11_400_714_785_074_694_797 }
            return UInt8(truncatingIfNeeded: gen >> 56)
        }
    }

    @Test func officialSanityVectors() {
        let prime32 = XXH64Tests.prime32
        let buf = XXH64Tests.sanityBuffer(222)
        let cases: [(Int, UInt64, UInt64)] = [
            (0, 0, 0xEF46_DB37_51D8_E999), (0, prime32, 0xAC75_FDA2_929B_17EF),
            (1, 0, 0xE934_A84A_DB05_2768), (1, prime32, 0x5014_6076_43A9_B4C3),
            (4, 0, 0x9136_A0DC_A574_57EE), (14, 0, 0x8282_DCC4_994E_35C8),
            (14, prime32, 0xC3BD_6BF6_3DEB_6DF0), (222, 0, 0xB641_AE8C_B691_C174),
            (222, prime32, 0x20CB_8AB7_AE10_C14A),
        ]
        for (n, seed, expected) in cases {
            #expect(XXH64.hash(Array(buf[0..<n]), seed: seed) == expected, "length \(n) seed \(seed)")
        }
    }

    struct Table: Decodable {
        struct Case: Decodable { let length: Int; let seed: UInt64; let xxh64: String }
        let cases: [Case]
    }

    @Test func libraryTableOneShotAndStreaming() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestSupport.fixture("reference/xxh64.json")))
        let table = try JSONDecoder().decode(Table.self, from: data)
        #expect(table.cases.count > 400)
        let buf = XXH64Tests.sanityBuffer(table.cases.map(\.length).max()!)
        for c in table.cases {
            let expected = UInt64(c.xxh64, radix: 16)!
            let bytes = Array(buf[0..<c.length])
            #expect(XXH64.hash(bytes, seed: c.seed) == expected, "one-shot length \(c.length) seed \(c.seed)")
            // Streaming with awkward chunk sizes must agree (exercises the 32-byte carry).
            for chunk in [1, 7, 31, 32, 33] where c.length < 300 || chunk == 33 {
                var h = XXH64(seed: c.seed)
                bytes.withUnsafeBytes { b in
                    var i = 0
                    while i < b.count {
                        let n = min(chunk, b.count - i)
                        h.update(UnsafeRawBufferPointer(rebasing: b[i..<(i + n)]))
                        i += n
                    }
                }
                #expect(h.digest() == expected, "streaming chunk \(chunk) length \(c.length) seed \(c.seed)")
            }
        }
    }

    @Test func unalignedInputGivesSameHash() {
        let buf = XXH64Tests.sanityBuffer(1000)
        let expected = XXH64.hash(Array(buf[1..<1000]))
        buf.withUnsafeBytes { b in
            #expect(XXH64.hash(UnsafeRawBufferPointer(rebasing: b[1..<1000])) == expected)
        }
    }
}
