// Core ML exists only on Apple platforms: elsewhere (Linux) this file compiles to nothing.
#if canImport(CoreML)
import CoreML
import Foundation
import TokenreelCore

// Core ML backends for an export folder (`tokenreel export --formats coreml`), after
// tokenreel/backends/exported.py: one `CoreMLArtifact` turns named float/int arrays into float outputs
// through the manifest's names, shapes and dtypes; the tokenizer and transformer logic sits above it.

/// An input array for an artifact; converted to the dtype its manifest entry names.
public enum Feed {
    case float(Tensor)
    case int(shape: [Int], data: [Int32])

    var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .int(let shape, _): return shape
        }
    }
}

/// One exported model: `.mlpackage` compiled once to `.mlmodelc` (cached by sha256), loaded with
/// computeUnits = .all. Feeds are cast to the dtypes its manifest entry names; outputs come back float32.
public final class CoreMLArtifact {
    public let entry: Manifest.Artifact
    let model: MLModel

    init(entry: Manifest.Artifact, model: MLModel) {
        self.entry = entry
        self.model = model
    }

    /// Find the artifact of this role and precision, check its size and sha256, compile (or reuse the
    /// cached compile) and load it.
    public static func load(folder: URL, manifest: Manifest, role: String, precision: String,
                            cache: URL? = nil, verify: Bool = true) async throws -> CoreMLArtifact {
        let entry = try manifest.find(role: role, format: "coreml", precision: precision)
        if verify { try manifest.verify(entry, folder: folder) }
        let compiled = try await compiledModel(folder.appendingPathComponent(entry.file), sha256: entry.sha256,
                                               cache: cache ?? defaultCache())
        let config = MLModelConfiguration()
        config.computeUnits = .all
        let model = try await MLModel.load(contentsOf: compiled, configuration: config)
        return CoreMLArtifact(entry: entry, model: model)
    }

    /// Caches/tokenreel-models: compiled models live on between launches (iOS may purge Caches: then we
    /// compile again).
    public static func defaultCache() throws -> URL {
        let caches = try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        return caches.appendingPathComponent("tokenreel-models", isDirectory: true)
    }

    /// DIR/<sha256>.mlmodelc: compiling takes seconds, so do it once per distinct package.
    static func compiledModel(_ package: URL, sha256: String, cache: URL) async throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: cache, withIntermediateDirectories: true)
        let target = cache.appendingPathComponent("\(sha256).mlmodelc", isDirectory: true)
        if fm.fileExists(atPath: target.path) { return target }
        let temp = try await MLModel.compileModel(at: package)   // into a temporary folder
        if fm.fileExists(atPath: target.path) { try? fm.removeItem(at: temp); return target }   // another task won
        do { try fm.moveItem(at: temp, to: target) } catch {
            if !fm.fileExists(atPath: target.path) { throw error }
        }
        return target
    }

    /// feeds in the order of the manifest's inputs -> outputs in the order of its outputs, as float32.
    public func callAsFunction(_ feeds: [Feed]) throws -> [Tensor] {
        guard feeds.count == entry.inputs.count else {
            throw TokenreelError("\(entry.file): \(feeds.count) inputs given, \(entry.inputs.count) expected")
        }
        var dict: [String: MLFeatureValue] = [:]
        for (spec, feed) in zip(entry.inputs, feeds) {
            dict[spec.name] = MLFeatureValue(multiArray: try makeArray(feed, spec: spec))
        }
        let out = try model.prediction(from: MLDictionaryFeatureProvider(dictionary: dict))
        return try entry.outputs.map { spec in
            guard let a = out.featureValue(for: spec.name)?.multiArrayValue else {
                throw TokenreelError("\(entry.file): the model gave no output \(spec.name)")
            }
            return try readArray(a)
        }
    }

    func makeArray(_ feed: Feed, spec: Manifest.TensorSpec) throws -> MLMultiArray {
        guard feed.shape == spec.shape else {
            throw TokenreelError("\(entry.file): input \(spec.name) is \(feed.shape), the export expects \(spec.shape)")
        }
        let dataType: MLMultiArrayDataType
        switch spec.dtype {
        case "float32": dataType = .float32
        case "float16": dataType = .float16
        case "int32": dataType = .int32
        default: throw TokenreelError("\(entry.file): input \(spec.name) has dtype \(spec.dtype), which Core ML does not take")
        }
        let array = try MLMultiArray(shape: spec.shape.map { NSNumber(value: $0) }, dataType: dataType)
        array.withUnsafeMutableBytes { raw, strides in
            // a new MLMultiArray may still pad rows: address elements through its strides
            let offsets = StridedOffsets(shape: spec.shape, strides: strides)
            switch (feed, dataType) {
            case (.float(let t), .float32):
                let p = raw.bindMemory(to: Float.self)
                offsets.forEach { k, o in p[o] = t.data[k] }
            case (.float(let t), .float16):
                let p = raw.bindMemory(to: UInt16.self)
                offsets.forEach { k, o in p[o] = halfBits(t.data[k]) }
            case (.float(let t), _):
                let p = raw.bindMemory(to: Int32.self)
                offsets.forEach { k, o in p[o] = Int32(t.data[k]) }
            case (.int(_, let d), .int32):
                let p = raw.bindMemory(to: Int32.self)
                offsets.forEach { k, o in p[o] = d[k] }
            case (.int(_, let d), .float32):
                let p = raw.bindMemory(to: Float.self)
                offsets.forEach { k, o in p[o] = Float(d[k]) }
            case (.int(_, let d), _):
                let p = raw.bindMemory(to: UInt16.self)
                offsets.forEach { k, o in p[o] = halfBits(Float(d[k])) }
            }
        }
        return array
    }

    /// Any float16 / float32 / double / int32 MLMultiArray -> a float32 Tensor in C order.
    func readArray(_ a: MLMultiArray) throws -> Tensor {
        let shape = a.shape.map(\.intValue)
        var out = [Float](repeating: 0, count: shape.reduce(1, *))
        let dataType = a.dataType
        try a.withUnsafeBytes { raw, strides in
            let offsets = StridedOffsets(shape: shape, strides: strides)
            switch dataType {
            case .float32:
                let p = raw.bindMemory(to: Float.self)
                offsets.forEach { k, o in out[k] = p[o] }
            case .float16:
                let p = raw.bindMemory(to: UInt16.self)
                offsets.forEach { k, o in out[k] = floatFromHalf(p[o]) }
            case .double:
                let p = raw.bindMemory(to: Double.self)
                offsets.forEach { k, o in out[k] = Float(p[o]) }
            case .int32:
                let p = raw.bindMemory(to: Int32.self)
                offsets.forEach { k, o in out[k] = Float(p[o]) }
            default:
                throw TokenreelError("\(entry.file): an output of data type \(dataType.rawValue) is not supported")
            }
        }
        return Tensor(shape: shape, data: out)
    }
}

/// Walks a shape in C order, giving (flat index, element offset through the strides).
struct StridedOffsets {
    let shape: [Int], strides: [Int]

    func forEach(_ body: (Int, Int) -> Void) {
        let rank = shape.count
        if rank == 0 { body(0, 0); return }
        if shape.contains(0) { return }
        let inner = shape[rank - 1], innerStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank)   // over the outer dimensions
        var k = 0
        while true {
            var base = 0
            for d in 0..<(rank - 1) { base += index[d] * strides[d] }
            for x in 0..<inner { body(k, base + x * innerStride); k += 1 }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }
}

// MARK: - float16 bits (by hand: Swift's Float16 is unavailable on Intel Macs, where `swift test` may run)

func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32((h >> 10) & 0x1F), mant = UInt32(h & 0x3FF)
    if exp == 0 {
        let v = Float(mant) * Float(bitPattern: 0x3380_0000)   // subnormal: mant * 2^-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Round to nearest, ties to even (as Core ML's and numpy's conversions).
func halfBits(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16((x >> 16) & 0x8000)
    let exp = Int((x >> 23) & 0xFF)
    var mant = x & 0x7F_FFFF
    if exp == 0xFF { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }   // inf, NaN
    let e = exp - 127 + 15
    if e >= 31 { return sign | 0x7C00 }                                   // overflow: inf
    if e <= 0 {                                                           // subnormal half, or zero
        if e < -10 { return sign }
        mant |= 0x80_0000
        let shift = UInt32(14 - e)
        var h = mant >> shift
        let rem = mant & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
        if rem > half || (rem == half && h & 1 == 1) { h += 1 }
        return sign | UInt16(h)
    }
    var h = (UInt32(e) << 10) | (mant >> 13)
    let rem = mant & 0x1FFF
    if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }           // a carry rounds up the exponent: right
    return sign | UInt16(h)
}
#endif
