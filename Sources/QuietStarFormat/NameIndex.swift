/// Tensor name -> directory position, an open-addressing table keyed by XXH64 of the name.
///
/// A `[String: Int]` spent most of a 100k-tensor open in retain/release and key comparisons
/// along probe sequences (Swift's table stores no hashes). Here each slot keeps the full 64-bit
/// hash, so a probe compares integers and only a genuine hash match compares names.
struct NameIndex: Sendable {
    private var hashes: [UInt64]
    /// Directory position + 1; 0 marks an empty slot.
    private var positions: [UInt32]
    private let mask: Int

    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size <<= 1 }  // load factor <= 1/2
        hashes = [UInt64](repeating: 0, count: size)
        positions = [UInt32](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    static func hash(_ name: String) -> UInt64 {
        var name = name
        return name.withUTF8 { XXH64.hash(UnsafeRawBufferPointer($0)) }
    }

    /// Inserts `tensors[position]` (whose name hashes to `hash`); false when the name is
    /// already present.
    mutating func insert(hash: UInt64, position: Int, tensors: [TensorInfo], name: String) -> Bool {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while positions[slot] != 0 {
            if hashes[slot] == hash && tensors[Int(positions[slot]) - 1].name == name { return false }
            slot = (slot + 1) & mask
        }
        hashes[slot] = hash
        positions[slot] = UInt32(position + 1)
        return true
    }

    func find(_ name: String, in tensors: [TensorInfo]) -> Int? {
        let hash = NameIndex.hash(name)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while positions[slot] != 0 {
            let p = Int(positions[slot]) - 1
            if hashes[slot] == hash && tensors[p].name == name { return p }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
