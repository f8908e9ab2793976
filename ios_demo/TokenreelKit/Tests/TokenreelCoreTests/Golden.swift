import Foundation
import TokenreelCore
import XCTest

/// Where the golden vectors are: TOKENREEL_GOLDEN (default: ../../tests/golden relative to the package,
/// i.e. the repository's tests/golden) and TOKENREEL_VERIFY_GOLDEN (a folder written by
/// `tokenreel verify DIR --write-golden GDIR`; when unset, TOKENREEL_GOLDEN is used if it holds those files).
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

    static func verifyDir() throws -> URL {
        if let env = ProcessInfo.processInfo.environment["TOKENREEL_VERIFY_GOLDEN"], !env.isEmpty {
            return URL(fileURLWithPath: env, relativeTo: packageRoot).standardizedFileURL
        }
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent("transformer-picks.json").path) { return dir }
        throw XCTSkip("set TOKENREEL_VERIFY_GOLDEN to a folder written by `tokenreel verify DIR --write-golden GDIR`")
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

    /// The test target's own resources (edit-golden.json).
    static func resource(_ name: String) throws -> JSONValue {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") else {
            throw TokenreelError("test resource \(name) is missing")
        }
        return try JSONValue.parse(Data(contentsOf: url))
    }
}

extension JSONValue {
    var ints: [Int] { (arrayValue ?? []).map { $0.intValue! } }
    var bools: [Bool] { ints.map { $0 != 0 } }
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

    var knownGrid: KnownGrid {
        let g = tokenGrid
        return KnownGrid(t: g.t, h: g.h, w: g.w, data: g.data.map { $0 != 0 })
    }
}
