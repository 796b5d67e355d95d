import Foundation
import QuietStarFormat
import QuietStarJSON

/// A Hugging Face model folder, opened and validated: `config.json`, the weights
/// (`model.safetensors`, or shards listed by `model.safetensors.index.json`), and the tokenizer
/// files when present. Every shard is mapped and its header validated here, before any output
/// exists, so a damaged shard fails the conversion up front.
public final class HFCheckpoint {
    public let directory: String
    public let configPath: String
    /// The raw bytes of `config.json` (digested into provenance).
    public let configBytes: [UInt8]
    public let configJSON: JSONValue
    public let shards: [SafetensorsFile]
    public let tokenizerJSON: Data?
    public let tokenizerConfigJSON: Data?
    public let generationConfigJSON: Data?
    /// Notes for the report (which weight files were used).
    public private(set) var notes: [String] = []
    private var locations: [String: (shard: Int, info: SafetensorsTensorInfo)] = [:]

    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public init(directory: String) throws(InteropError) {
        self.directory = directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InteropError(.missingInput, path: directory, "not a directory (expected a Hugging Face model folder)")
        }
        configPath = Paths.join(directory, "config.json")
        configBytes = try Self.readFile(configPath, required: true)!
        do {
            configJSON = try JSONReader.parse(configBytes)
        } catch {
            throw InteropError(.invalidInput, path: configPath, offset: UInt64(error.offset), "invalid JSON: \(error.message)")
        }
        tokenizerJSON = try Self.readFile(Paths.join(directory, "tokenizer.json"), required: false).map { Data($0) }
        tokenizerConfigJSON = try Self.readFile(Paths.join(directory, "tokenizer_config.json"), required: false).map { Data($0) }
        generationConfigJSON = try Self.readFile(Paths.join(directory, "generation_config.json"), required: false).map { Data($0) }

        let single = Paths.join(directory, Self.singleFileName)
        let index = Paths.join(directory, Self.indexFileName)
        var files: [SafetensorsFile] = []
        if FileManager.default.fileExists(atPath: single) {
            // transformers prefers the single file too.
            files = [try SafetensorsFile(path: single)]
            if FileManager.default.fileExists(atPath: index) {
                notes.append("used \(Self.singleFileName); \(Self.indexFileName) was ignored")
            }
            shards = files
            for info in files[0].tensors { locations[info.name] = (0, info) }
            return
        }
        guard FileManager.default.fileExists(atPath: index) else {
            let hasBin = FileManager.default.fileExists(atPath: Paths.join(directory, "pytorch_model.bin"))
                || FileManager.default.fileExists(atPath: Paths.join(directory, "pytorch_model.bin.index.json"))
            throw InteropError(.missingInput, path: directory,
                               hasBin ? "has only PyTorch .bin weights, which are pickles that can run code; re-save them with save_pretrained(..., safe_serialization=True)"
                                      : "no \(Self.singleFileName) or \(Self.indexFileName)")
        }
        let indexBytes = try Self.readFile(index, required: true)!
        let indexJSON: JSONValue
        do {
            indexJSON = try JSONReader.parse(indexBytes)
        } catch {
            throw InteropError(.invalidInput, path: index, offset: UInt64(error.offset), "invalid JSON: \(error.message)")
        }
        guard let weightMap = indexJSON["weight_map"]?.objectEntries else {
            throw InteropError(.invalidInput, path: index, field: "weight_map", "missing or not an object")
        }
        // Shard names come from an untrusted file: plain names inside the folder only.
        var shardNames: [String] = []
        var shardIndex: [String: Int] = [:]
        var expected: [(tensor: String, shard: Int)] = []
        for (tensor, value) in weightMap {
            guard let name = value.stringValue else {
                throw InteropError(.invalidInput, path: index, field: "weight_map.\(tensor)", "must be a file name")
            }
            guard !name.isEmpty, !name.contains("/"), !name.contains("\\"), !name.hasPrefix("."), name.hasSuffix(".safetensors") else {
                throw InteropError(.invalidInput, path: index, field: "weight_map.\(tensor)",
                                   "\"\(name)\" is not a plain .safetensors file name in this folder")
            }
            if shardIndex[name] == nil {
                shardIndex[name] = shardNames.count
                shardNames.append(name)
            }
            expected.append((tensor, shardIndex[name]!))
        }
        // Shards in name order (model-00001-of-00003, ...), which is also layer order.
        let order = shardNames.indices.sorted { shardNames[$0] < shardNames[$1] }
        var remap = [Int](repeating: 0, count: shardNames.count)
        for (newIndex, old) in order.enumerated() {
            remap[old] = newIndex
            files.append(try SafetensorsFile(path: Paths.join(directory, shardNames[old])))
        }
        shards = files
        for (tensor, oldShard) in expected {
            let s = remap[oldShard]
            guard let info = files[s].info(tensor) else {
                throw InteropError(.invalidInput, path: files[s].path, field: tensor,
                                   "the index places this tensor here but the shard does not contain it")
            }
            locations[tensor] = (s, info)
        }
        for (s, file) in files.enumerated() {
            for info in file.tensors where locations[info.name]?.shard != s {
                throw InteropError(.invalidInput, path: file.path, field: info.name,
                                   locations[info.name] == nil ? "tensor is not listed in \(Self.indexFileName)"
                                                               : "tensor is listed in \(Self.indexFileName) under another shard")
            }
        }
        notes.append("read \(files.count) shards listed in \(Self.indexFileName)")
    }

    /// Every tensor name in the checkpoint.
    public var tensorNames: Set<String> { Set(locations.keys) }

    /// The shard and header entry holding `name`.
    public func location(_ name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        locations[name].map { (shards[$0.shard], $0.info) }
    }

    /// Reads a small file whole; nil when absent and not required.
    static func readFile(_ path: String, required: Bool) throws(InteropError) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw InteropError(.missingInput, path: path, "file not found") }
            return nil
        }
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            throw InteropError(error)
        }
        guard file.bytes.count <= 1 << 30 else {
            throw InteropError(.invalidInput, path: path, "\(file.bytes.count) bytes is too large for a JSON side file")
        }
        return Array(file.bytes)
    }
}
