import Foundation

// Reading an export folder's manifest.json (docs/export.md, tokenreel/runtime/manifest.py).

public struct Manifest: Codable {
    public static let schemaVersion = 1

    public struct Geometry: Codable {
        public var bits: Int
        public var spatial: Int
        public var group: Int
        public var frameSize: [Int]          // [width, height] in pixels
        public var window: [Int]?            // [T, H, W] tokens; present when a transformer was exported
        public var splits: Int?
        public var subBits: Int?
        public var maskId: Int?
        /// Warm-up calls a video's first input gets per step role (a `replicate` causal start); nil: none.
        public var startCalls: StartCalls?
    }

    /// geometry.start_calls (docs/export.md): a tokenizer whose causal start replicates the first frame runs on
    /// step models whose states start at zeros, so each video's (and decoder tile's) first input is fed this
    /// many times before its real call, only the states kept (`StepModel`).
    public struct StartCalls: Codable, Equatable {
        public var encoderStep: Int
        public var decoderStep: Int

        /// The calls for a step role ("encoder_step" or "decoder_step"; 0 for any other).
        public func of(role: String) -> Int {
            switch role {
            case "encoder_step": return encoderStep
            case "decoder_step": return decoderStep
            default: return 0
            }
        }
    }

    /// geometry.start_calls per role, at most (manifest.py).
    public static let maxStartCalls = 64

    public struct Weight: Codable {
        public var id: String
        public var sha256: String
    }

    public struct TensorSpec: Codable {
        public var name: String
        public var shape: [Int]
        public var dtype: String             // float32 | float16 | int32 | int64
    }

    public struct StatePair: Codable {
        public var input: String
        public var output: String
    }

    public struct Artifact: Codable {
        public var file: String
        public var format: String            // onnx | coreml | executorch
        public var role: String              // encoder_step | decoder_step | transformer
        public var precision: String         // fp32 | fp16 | int8
        public var inputs: [TensorSpec]
        public var outputs: [TensorSpec]
        public var state: [StatePair]
        public var bytes: Int
        public var sha256: String
        public var keptFloat: [String]?
    }

    public var schemaVersion: Int
    public var geometry: Geometry
    public var weights: [String: Weight]     // "tokenizer", "transformer"
    public var sampler: String
    public var artifacts: [String: Artifact]

    /// Load DIR/manifest.json; with `verify`, refuse any artifact whose size or sha256 differs.
    public static func read(folder: URL, verify: Bool = true) throws -> Manifest {
        let path = folder.appendingPathComponent("manifest.json")
        guard let data = try? Data(contentsOf: path) else {
            throw TokenreelError("\(folder.path): no manifest.json; make the folder with `tokenreel export -o \(folder.path)`")
        }
        let manifest = try parse(data, where: path.path)
        if verify {
            for a in manifest.artifacts.values { try manifest.verify(a, folder: folder) }
        }
        return manifest
    }

    /// Parse manifest.json's bytes; `where` names it in errors.
    public static func parse(_ data: Data, where path: String = "manifest.json") throws -> Manifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        struct Versioned: Decodable { var schemaVersion: Int }
        let version: Int
        do { version = try decoder.decode(Versioned.self, from: data).schemaVersion } catch {
            throw TokenreelError("\(path): not a tokenreel export manifest (\(type(of: error)))")
        }
        if version != schemaVersion {
            throw TokenreelError("\(path): schema version \(version); this tokenreel reads \(schemaVersion)")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch {
            throw TokenreelError("\(path): not a tokenreel export manifest (\((error as? TokenreelError)?.message ?? "\(error)"))")
        }
        try ManifestSchema(location: path).check(json)
        do { return try decoder.decode(Manifest.self, from: data) } catch {
            throw TokenreelError("\(path): not a tokenreel export manifest (\(error))")
        }
    }

    /// Refuse an artifact whose size or sha256 differs from the manifest (what `read(verify:)` does for
    /// every artifact; an app may check only the ones it loads).
    public func verify(_ a: Artifact, folder: URL) throws {
        let f = folder.appendingPathComponent(a.file)
        guard FileManager.default.fileExists(atPath: f.path),
              (try? pathBytes(f)) == a.bytes, (try? pathSHA256(f)) == a.sha256 else {
            throw TokenreelError("\(f.path): missing or changed since export (sha256 differs from the manifest); "
                                 + "re-export the folder")
        }
    }

    /// The one artifact of this role, format and precision, or a clear error.
    public func find(role: String, format: String, precision: String) throws -> Artifact {
        // sorted keys: the same choice on every run (Python walks the JSON object's order)
        for key in artifacts.keys.sorted() {
            let a = artifacts[key]!
            if (a.role, a.format, a.precision) == (role, format, precision) { return a }
        }
        throw TokenreelError("the export has no \(format) \(precision) \(role); export it with "
                             + "`tokenreel export --formats \(format) --precision \(precision)`")
    }

    /// Precisions for which this export has all three roles in `format`.
    public func precisions(format: String) -> [String] {
        let all = Set(artifacts.values.filter { $0.format == format }.map(\.precision))
        return all.filter { p in ["encoder_step", "decoder_step", "transformer"].allSatisfy { r in
            artifacts.values.contains { $0.format == format && $0.precision == p && $0.role == r }
        } }.sorted()
    }
}

/// The fields of tokenreel/runtime/manifest.py `check_manifest` this port validates when it reads, in its words
/// (before decoding, so a bad value gets Python's one-line error, not a decoding error).
struct ManifestSchema {
    let location: String
    static let stepRoles = ["encoder_step", "decoder_step"]

    func fail(_ at: String, _ why: String) -> TokenreelError {
        TokenreelError("\(location): \(at) \(why); re-export the folder with `tokenreel export`")
    }

    func object(_ v: JSONValue?, _ at: String, required: [String]) throws -> [String: JSONValue] {
        guard let o = v?.objectValue else { throw fail(at, "must be an object") }
        let missing = required.filter { o[$0] == nil }
        if !missing.isEmpty { throw fail(at, "lacks \(missing.joined(separator: ", "))") }
        return o
    }

    /// A JSON integer (not a bool or a float such as 6.0) from `lo` to `hi`.
    func int(_ v: JSONValue?, _ at: String, _ lo: Int, _ hi: Int) throws -> Int {
        guard case .int(let n)? = v, n >= lo, n <= hi else { throw fail(at, "must be an integer from \(lo) to \(hi)") }
        return Int(n)
    }

    func check(_ m: JSONValue) throws {
        guard let g = m["geometry"]?.objectValue else { return }
        if g["start_calls"] != nil {
            let calls = try object(g["start_calls"], "geometry.start_calls", required: Self.stepRoles)
            for role in Self.stepRoles { _ = try int(calls[role], "geometry.start_calls.\(role)", 0, Manifest.maxStartCalls) }
        }
    }
}

// MARK: - hashes (manifest.py's file_sha256, path_sha256, path_bytes)

public func fileSHA256(_ url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var h = SHA256Hasher()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { h.update(data: chunk) }
    return h.hexDigest()
}

/// The regular files under a folder with their relative POSIX paths, in Python's `sorted(Path)` order:
/// by path components, each compared by code point (UTF-8 byte order is the same order).
func filesUnder(_ folder: URL) throws -> [(relative: String, url: URL)] {
    var files: [(parts: [String], url: URL)] = []
    for sub in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {   // relative paths, recursive
        let url = folder.appendingPathComponent(sub)
        var isDir: ObjCBool = false
        // is_file(): regular files, following symlinks
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else { continue }
        files.append((sub.split(separator: "/").map(String.init), url))
    }
    files.sort { a, b in
        a.parts.lexicographicallyPrecedes(b.parts) { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
    return files.map { ($0.parts.joined(separator: "/"), $0.url) }
}

/// sha256 of a file, or of a folder (a Core ML .mlpackage): its files' relative paths and hashes, sorted.
public func pathSHA256(_ url: URL) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw TokenreelError("\(url.path): no such file")
    }
    if !isDir.boolValue { return try fileSHA256(url) }
    var h = SHA256Hasher()
    for (relative, file) in try filesUnder(url) {
        h.update(data: Data("\(relative)\u{0}\(try fileSHA256(file))\n".utf8))
    }
    return h.hexDigest()
}

public func pathBytes(_ url: URL) throws -> Int {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
        throw TokenreelError("\(url.path): no such file")
    }
    if !isDir.boolValue { return try url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0 }
    return try filesUnder(url).reduce(0) { $0 + (try $1.url.resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0) }
}
