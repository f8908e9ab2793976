import Foundation

/// A (T, H, W) grid in row-major order (x fastest): the numpy arrays of the Python runtime.
public struct Grid3<Element> {
    public let t: Int, h: Int, w: Int
    public var data: [Element]

    public init(t: Int, h: Int, w: Int, data: [Element]) {
        precondition(t >= 0 && h >= 0 && w >= 0 && data.count == t * h * w, "grid data does not match \(t)x\(h)x\(w)")
        self.t = t; self.h = h; self.w = w; self.data = data
    }

    public init(t: Int, h: Int, w: Int, repeating value: Element) {
        self.init(t: t, h: h, w: w, data: Array(repeating: value, count: t * h * w))
    }

    public var shape: [Int] { [t, h, w] }

    @inline(__always) public func index(_ tt: Int, _ y: Int, _ x: Int) -> Int { (tt * h + y) * w + x }

    public subscript(tt: Int, y: Int, x: Int) -> Element {
        get { data[index(tt, y, x)] }
        set { data[index(tt, y, x)] = newValue }
    }

    /// grid[ts, ys, xs] (numpy slicing; ranges must lie inside the grid).
    public func slice(_ ts: Range<Int>, _ ys: Range<Int>, _ xs: Range<Int>) -> Grid3 {
        var out: [Element] = []
        out.reserveCapacity(ts.count * ys.count * xs.count)
        for tt in ts { for y in ys { let row = index(tt, y, 0); out.append(contentsOf: data[(row + xs.lowerBound)..<(row + xs.upperBound)]) } }
        return Grid3(t: ts.count, h: ys.count, w: xs.count, data: out)
    }

    /// grid[t0:, y0:, x0:][:sub.t, :sub.h, :sub.w] = sub
    public mutating func assign(_ sub: Grid3, t0: Int, y0: Int, x0: Int) {
        for tt in 0..<sub.t { for y in 0..<sub.h { for x in 0..<sub.w { self[t0 + tt, y0 + y, x0 + x] = sub[tt, y, x] } } }
    }

    public mutating func fill(_ ts: Range<Int>, _ ys: Range<Int>, _ xs: Range<Int>, with value: Element) {
        for tt in ts { for y in ys { for x in xs { self[tt, y, x] = value } } }
    }

    /// The first `n` frames in time.
    public func prefix(frames n: Int) -> Grid3 { slice(0..<n, 0..<h, 0..<w) }

    /// Frames appended in time (np.concatenate along axis 0).
    public func appending(_ other: Grid3) -> Grid3 {
        precondition(other.h == h && other.w == w)
        return Grid3(t: t + other.t, h: h, w: w, data: data + other.data)
    }

    /// np.pad with `value` on the sides of H and W.
    public func padded(top: Int, bottom: Int, left: Int, right: Int, with value: Element) -> Grid3 {
        var out = Grid3(t: t, h: h + top + bottom, w: w + left + right, repeating: value)
        out.assign(self, t0: 0, y0: top, x0: left)
        return out
    }
}

extension Grid3: Equatable where Element: Equatable {}

public typealias TokenGrid = Grid3<Int32>
public typealias KnownGrid = Grid3<Bool>

/// A float32 array with a shape (numpy float32 arrays: frames, latents, causal states).
public struct Tensor {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "tensor data does not match shape \(shape)")
        self.shape = shape; self.data = data
    }

    public init(zeros shape: [Int]) { self.init(shape: shape, data: Array(repeating: 0, count: shape.reduce(1, *))) }

    public var count: Int { data.count }

    /// The same data under another shape of the same size (numpy reshape).
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, data: data) }
}

/// One video frame: (H, W, 3) uint8 RGB, as the Python runtime's frames.
public struct Frame {
    public let width: Int, height: Int
    public var rgb: [UInt8]

    public init(width: Int, height: Int, rgb: [UInt8]) {
        precondition(rgb.count == width * height * 3, "frame data does not match \(width)x\(height)")
        self.width = width; self.height = height; self.rgb = rgb
    }
}
