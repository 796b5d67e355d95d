/// The two lookup structures of the hot path, built for it: no allocation per lookup, keys
/// compared as raw bytes, one multiply-shift hash.

/// A 64-bit hash of a byte string (8 bytes per step, multiply-xorshift mixing).
@inline(__always)
func hashBytes(_ p: UnsafeRawPointer, _ count: Int) -> UInt64 {
    var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: count &+ 1)
    var i = 0
    while i &+ 8 <= count {
        h = (h ^ p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 31
        i &+= 8
    }
    if i < count {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            tail |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
            shift &+= 8
            i &+= 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 29
    }
    h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
    return h ^ (h >> 32)
}

/// An open-addressing map from byte strings to entry numbers 0, 1, 2, ... in insertion order;
/// the caller keeps whatever the entries stand for in arrays of its own. Keys live in one
/// arena. Used for the vocabulary (immutable after init) and the word cache (cleared when full).
struct ByteKeyTable: Sendable {
    /// Per slot: 0 = empty, else (hash tag << 32) | (entry + 1).
    private var slots: [UInt64]
    private var keyBytes: [UInt8] = []
    /// Entry i's key is keyBytes[keyStarts[i] ..< keyStarts[i + 1]].
    private var keyStarts: [Int32] = [0]
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { keyStarts.count - 1 }
    var keyByteCount: Int { keyBytes.count }

    /// The entry for `key`, or -1.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer) -> Int {
        let n = key.count
        let h = hashBytes(key.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, n)
        let tag = h >> 32
        var slot = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { slots in
            keyBytes.withUnsafeBufferPointer { bytes in
                keyStarts.withUnsafeBufferPointer { starts in
                    while true {
                        let s = slots[slot]
                        if s == 0 { return -1 }
                        if s >> 32 == tag {
                            let e = Int(truncatingIfNeeded: s & 0xFFFF_FFFF) - 1
                            let a = Int(starts[e]), b = Int(starts[e + 1])
                            if b - a == n && (n == 0 || memcmpEqual(bytes.baseAddress! + a, key.baseAddress!, n)) {
                                return e
                            }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    /// Adds `key` as the next entry and returns its number; an existing key keeps its entry.
    @discardableResult
    mutating func insert(_ key: UnsafeRawBufferPointer) -> Int {
        let existing = find(key)
        if existing >= 0 { return existing }
        if (count + 1) * 2 > slots.count { grow() }
        let e = count
        keyBytes.append(contentsOf: key)
        keyStarts.append(Int32(keyBytes.count))
        place(entry: e, hash: hashBytes(key.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, key.count))
        return e
    }

    mutating func removeAll() {
        for i in slots.indices { slots[i] = 0 }
        keyBytes.removeAll(keepingCapacity: true)
        keyStarts.removeAll(keepingCapacity: true)
        keyStarts.append(0)
    }

    private mutating func place(entry e: Int, hash h: UInt64) {
        var slot = Int(truncatingIfNeeded: h) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = (h >> 32) << 32 | UInt64(e + 1)
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for e in 0..<count {
            let a = Int(keyStarts[e]), b = Int(keyStarts[e + 1])
            let h = keyBytes.withUnsafeBytes { hashBytes($0.baseAddress! + a, b - a) }
            place(entry: e, hash: h)
        }
    }
}

@inline(__always)
func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    var i = 0
    while i &+ 8 <= n {
        if UnsafeRawPointer(a).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
        i &+= 8
    }
    while i < n {
        if a[i] != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i &+= 1
    }
    return true
}

/// The merge rules as a map from an adjacent id pair to (rank << 32) | merged id, so that the
/// smallest value is the merge to apply first. Open addressing over u64 keys.
struct MergeTable: Sendable {
    static let none = UInt64.max
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    /// 64 - log2(slot count): the top bits of the multiplied key pick the slot.
    private let shift: UInt64

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: .max, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
        shift = UInt64(64 - size.trailingZeroBitCount)
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private func slot(for key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    /// Sets the rule for a pair; a later rule for the same pair replaces the earlier one, as
    /// Hugging Face's merge map does when it is collected from the list.
    mutating func set(_ left: Int32, _ right: Int32, rank: Int, result: Int32) {
        let k = Self.key(left, right)
        var s = slot(for: k)
        while keys[s] != .max && keys[s] != k { s = (s + 1) & mask }
        keys[s] = k
        values[s] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: result))
    }

    /// (rank << 32) | merged id, or `MergeTable.none`.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
        let k = Self.key(left, right)
        return keys.withUnsafeBufferPointer { keys in
            var s = slot(for: k)
            while true {
                let stored = keys[s]
                if stored == k { return values.withUnsafeBufferPointer { $0[s] } }
                if stored == .max { return Self.none }
                s = (s + 1) & mask
            }
        }
    }
}
