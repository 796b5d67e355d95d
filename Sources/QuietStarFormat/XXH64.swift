/// XXH64 (Yann Collet's xxHash, 64-bit variant), written from the published algorithm
/// (xxhash.h / doc/xxhash_spec.md) and checked against the reference sanity vectors.
///
/// The checksum of every header, index and tensor blob in a `.qstar` file. Four independent
/// lanes consume 32-byte stripes with unaligned 8-byte loads, which keeps it at memory speed.
public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private let seed: UInt64
    private var v1, v2, v3, v4: UInt64
    private var totalLength: UInt64 = 0
    /// Up to 31 bytes waiting for a full stripe.
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ XXH64.p1 &+ XXH64.p2
        v2 = seed &+ XXH64.p2
        v3 = seed
        v4 = seed &- XXH64.p1
    }

    @inline(__always)
    static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        let a = acc &+ input &* p2
        return ((a << 31) | (a >> 33)) &* p1
    }

    @inline(__always)
    static func mergeRound(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        let a = acc ^ round(0, v)
        return a &* p1 &+ p4
    }

    @inline(__always)
    static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    /// Consumes whole 32-byte stripes from `p`; returns how many bytes it used.
    @inline(__always)
    private static func stripes(_ p: UnsafeRawPointer, _ count: Int,
                                _ a: inout UInt64, _ b: inout UInt64,
                                _ c: inout UInt64, _ d: inout UInt64) -> Int {
        var i = 0
        var (v1, v2, v3, v4) = (a, b, c, d)
        while i + 32 <= count {
            v1 = round(v1, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            v2 = round(v2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)))
            v3 = round(v3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)))
            v4 = round(v4, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)))
            i += 32
        }
        (a, b, c, d) = (v1, v2, v3, v4)
        return i
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var count = bytes.count
        var p = base
        totalLength &+= UInt64(count)
        if pendingCount > 0 {
            let take = min(32 - pendingCount, count)
            let used = pendingCount
            withUnsafeMutableBytes(of: &pending) { buf in
                buf.baseAddress!.advanced(by: used).copyMemory(from: p, byteCount: take)
            }
            pendingCount += take
            p += take
            count -= take
            if pendingCount < 32 { return }
            var (a, b, c, d) = (v1, v2, v3, v4)
            withUnsafeBytes(of: &pending) { buf in
                _ = XXH64.stripes(buf.baseAddress!, 32, &a, &b, &c, &d)
            }
            (v1, v2, v3, v4) = (a, b, c, d)
            pendingCount = 0
        }
        var (a, b, c, d) = (v1, v2, v3, v4)
        let used = XXH64.stripes(p, count, &a, &b, &c, &d)
        (v1, v2, v3, v4) = (a, b, c, d)
        let rest = count - used
        if rest > 0 {
            withUnsafeMutableBytes(of: &pending) { buf in
                buf.baseAddress!.copyMemory(from: p + used, byteCount: rest)
            }
            pendingCount = rest
        }
    }

    public func digest() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h = XXH64.rotl(v1, 1) &+ XXH64.rotl(v2, 7) &+ XXH64.rotl(v3, 12) &+ XXH64.rotl(v4, 18)
            h = XXH64.mergeRound(h, v1)
            h = XXH64.mergeRound(h, v2)
            h = XXH64.mergeRound(h, v3)
            h = XXH64.mergeRound(h, v4)
        } else {
            h = seed &+ XXH64.p5
        }
        h &+= totalLength
        var tail = pending
        let n = pendingCount
        return withUnsafeBytes(of: &tail) { buf in
            XXH64.finalize(h, buf.baseAddress!, n)
        }
    }

    /// The tail (fewer than 32 bytes) and the avalanche.
    @inline(__always)
    static func finalize(_ hIn: UInt64, _ p: UnsafeRawPointer, _ count: Int) -> UInt64 {
        var h = hIn
        var i = 0
        while i + 8 <= count {
            let k = round(0, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            h ^= k
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= count {
            let k = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
            h ^= k &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < count {
            h ^= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        h ^= h >> 33
        h &*= p2
        h ^= h >> 29
        h &*= p3
        h ^= h >> 32
        return h
    }

    /// One-shot hash: no copies, no state object.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let count = bytes.count
        guard let p = bytes.baseAddress, count > 0 else {
            return finalizeEmpty(seed)
        }
        var h: UInt64
        var used = 0
        if count >= 32 {
            var a = seed &+ p1 &+ p2, b = seed &+ p2, c = seed, d = seed &- p1
            used = stripes(p, count, &a, &b, &c, &d)
            h = rotl(a, 1) &+ rotl(b, 7) &+ rotl(c, 12) &+ rotl(d, 18)
            h = mergeRound(h, a)
            h = mergeRound(h, b)
            h = mergeRound(h, c)
            h = mergeRound(h, d)
        } else {
            h = seed &+ p5
        }
        h &+= UInt64(count)
        return finalize(h, p + used, count - used)
    }

    private static func finalizeEmpty(_ seed: UInt64) -> UInt64 {
        var zero: UInt8 = 0
        return withUnsafeBytes(of: &zero) { finalize(seed &+ p5, $0.baseAddress!, 0) }
    }

    /// Convenience for byte arrays (tests, small buffers).
    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }
}
