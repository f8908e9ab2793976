#if canImport(CryptoKit)
import CryptoKit
#endif
import Foundation

// SHA-256 (FIPS 180-4) in plain Swift, for the manifest's file hashes where CryptoKit is absent.
// CryptoKit exists only on Apple platforms, and this package may depend on nothing outside it (no package
// such as swift-crypto can be fetched on the machine that builds and tests it on Linux), so the core carries
// this small implementation; on Apple platforms `SHA256Hasher` is CryptoKit's. SHA256Tests checks this one
// against the FIPS vectors on every platform (and against CryptoKit where that exists).

public struct PortableSHA256 {
    static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    var block = [UInt8]()      // the bytes of an unfinished 64-byte block
    var length: UInt64 = 0     // message bytes so far

    public init() { block.reserveCapacity(64) }

    public mutating func update<D: DataProtocol>(data: D) {
        for region in data.regions {
            region.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                let n = raw.count
                var at = 0
                length &+= UInt64(n)
                if !block.isEmpty {            // top up the pending block first
                    at = min(64 - block.count, n)
                    block.append(contentsOf: UnsafeRawBufferPointer(start: base, count: at))
                    if block.count < 64 { return }
                    let full = block
                    full.withUnsafeBytes { compress($0.baseAddress!) }
                    block.removeAll(keepingCapacity: true)
                }
                while n - at >= 64 {
                    compress(base + at)
                    at += 64
                }
                block.append(contentsOf: UnsafeRawBufferPointer(start: base + at, count: n - at))
            }
        }
    }

    /// The 32-byte digest (the hasher is spent afterwards, as CryptoKit's).
    public mutating func finalize() -> [UInt8] {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (119 - Int(length % 64)) % 64)   // to 56 mod 64
        for k in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
        let saved = length
        update(data: tail)
        length = saved
        precondition(block.isEmpty)
        return h.flatMap { w in (0..<4).reversed().map { UInt8(truncatingIfNeeded: w >> (8 * UInt32($0))) } }
    }

    /// One 64-byte block at `p`. Written for a debug build too (raw pointers, rotations spelled out, no calls
    /// in the rounds): the tests hash a whole export with it, ~170 MB.
    mutating func compress(_ p: UnsafeRawPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { buffer in
            let w = buffer.baseAddress!
            let bytes = p.assumingMemoryBound(to: UInt8.self)
            for i in 0..<16 {
                w[i] = UInt32(bytes[4 * i]) << 24 | UInt32(bytes[4 * i + 1]) << 16 | UInt32(bytes[4 * i + 2]) << 8
                    | UInt32(bytes[4 * i + 3])
            }
            var i = 16
            while i < 64 {             // (while, not for-in: a debug build's range iterator costs more than the round)
                let x = w[i - 15], y = w[i - 2]
                let s0 = (x >> 7 | x << 25) ^ (x >> 18 | x << 14) ^ (x >> 3)
                let s1 = (y >> 17 | y << 15) ^ (y >> 19 | y << 13) ^ (y >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
                i += 1
            }
            Self.k.withUnsafeBufferPointer { kb in
                let k = kb.baseAddress!
                var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
                i = 0
                while i < 64 {
                    let s1 = (e >> 6 | e << 26) ^ (e >> 11 | e << 21) ^ (e >> 25 | e << 7)
                    let t1 = hh &+ s1 &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                    let s0 = (a >> 2 | a << 30) ^ (a >> 13 | a << 19) ^ (a >> 22 | a << 10)
                    let t2 = s0 &+ ((a & b) ^ (a & c) ^ (b & c))
                    hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                    i += 1
                }
                h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
            }
        }
    }
}

/// The hasher behind the manifest's hashes: CryptoKit's SHA256 on Apple platforms, PortableSHA256 elsewhere.
struct SHA256Hasher {
    #if canImport(CryptoKit)
    var inner = CryptoKit.SHA256()
    mutating func update(data: Data) { inner.update(data: data) }
    mutating func hexDigest() -> String { hex(Array(inner.finalize())) }
    #else
    var inner = PortableSHA256()
    mutating func update(data: Data) { inner.update(data: data) }
    mutating func hexDigest() -> String { hex(inner.finalize()) }
    #endif
}

/// Lower-case hex, as Python's hexdigest().
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
