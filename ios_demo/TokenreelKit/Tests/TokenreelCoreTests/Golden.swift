import Foundation
import TokenreelCore
import XCTest

/// Where the golden vectors are, from the environment (tests/test_ios_core.py sets them all):
/// - TOKENREEL_GOLDEN: the repository's tests/golden (default: ../../tests/golden relative to the package);
/// - TOKENREEL_VERIFY_GOLDEN: a folder written by `tokenreel verify DIR --write-golden GDIR` (when unset,
///   TOKENREEL_GOLDEN is used if it holds those files);
/// - TOKENREEL_EDIT_CASES: the edit cases file of tests/edit_cases.py (the Kotlin port reads the same one);
/// - TOKENREEL_EXPORT_DIR: an export folder (`tokenreel export`) whose manifest is read and verified;
/// - TOKENREEL_ZSTD_RAW: the Zstandard-decompressed payload of tests/golden/tokens-zstd.trl.
/// Tests whose variable is unset are skipped; relative paths are taken from the package folder.
enum Golden {
    static var packageRoot: URL {
        // this file is <package>/Tests/TokenreelCoreTests/Golden.swift
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var dir: URL {
        if let env = ProcessInfo.processInfo.environment["TOKENREEL_GOLDEN"], !env.isEmpty {
            return URL(fileURLWithPath: env, relativeTo: packageRoot).standardizedFileURL
        }
        return packageRoot.appendingPathComponent("../../tests/golden").standardizedFileURL
    }

    /// The path in environment variable `name`, which must exist when set; a skip when unset.
    static func path(_ name: String, _ what: String) throws -> URL {
        guard let env = ProcessInfo.processInfo.environment[name], !env.isEmpty else {
            throw XCTSkip("set \(name) to \(what)")
        }
        let url = URL(fileURLWithPath: env, relativeTo: packageRoot).standardizedFileURL
        guard FileManager.default.fileExists(atPath: url.path) else {
            XCTFail("\(name)=\(env): no such file or folder")
            throw TokenreelError("missing \(url.path)")
        }
        return url
    }

    static func verifyDir() throws -> URL {
        if ProcessInfo.processInfo.environment["TOKENREEL_VERIFY_GOLDEN"] == nil,
           FileManager.default.fileExists(atPath: dir.appendingPathComponent("transformer-picks.json").path) { return dir }
        return try path("TOKENREEL_VERIFY_GOLDEN", "a folder written by `tokenreel verify DIR --write-golden GDIR`")
    }

    static func editCases() throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: path("TOKENREEL_EDIT_CASES",
                                                  "a file written by `python tests/edit_cases.py OUT.json`")))
    }

    static func exportDir() throws -> URL {
        try path("TOKENREEL_EXPORT_DIR", "an export folder written by `tokenreel export -o DIR`")
    }

    static func data(_ name: String, in folder: URL = dir) throws -> Data {
        let url = folder.appendingPathComponent(name)
        guard let d = try? Data(contentsOf: url) else {
            XCTFail("golden file \(url.path) is missing (set TOKENREEL_GOLDEN)")
            throw TokenreelError("missing \(url.path)")
        }
        return d
    }

    static func json(_ name: String, in folder: URL = dir) throws -> JSONValue { try JSONValue.parse(data(name, in: folder)) }
}

extension JSONValue {
    var ints: [Int] { (arrayValue ?? []).map { $0.intValue! } }
    var bools: [Bool] { ints.map { $0 != 0 } }
    /// A nested list of integers, flattened in row-major order.
    var flatInts: [Int] { arrayValue.map { $0.flatMap(\.flatInts) } ?? [intValue!] }
    var floats: [Float] { (arrayValue ?? []).flatMap { v -> [Float] in
        if let a = v.arrayValue { return JSONValue.array(a).floats }
        return [Float(v.doubleValue!)]
    } }

    /// A nested [[[Int]]] as a (T, H, W) grid.
    var tokenGrid: TokenGrid {
        let t = arrayValue!, h = t[0].arrayValue!, w = h[0].arrayValue!
        let flat = t.flatMap { $0.arrayValue!.flatMap { $0.ints.map { Int32($0) } } }
        return TokenGrid(t: t.count, h: h.count, w: w.count, data: flat)
    }

    /// {"shape": [T, H, W], "data": [...]} (tests/edit_cases.py's grids) as a (T, H, W) grid.
    var flatGrid: TokenGrid {
        let shape = self["shape"]!.ints
        return TokenGrid(t: shape[0], h: shape[1], w: shape[2], data: self["data"]!.ints.map { Int32($0) })
    }

    /// {"shape": [...], "bits": [...]} (float32 bit patterns) as a tensor.
    var floatBits: Tensor {
        Tensor(shape: self["shape"]!.ints, data: self["bits"]!.ints.map { Float(bitPattern: UInt32($0)) })
    }
}
