import Foundation

/// One step model with explicit state (tokenreel/backends/exported.py `_Step`): zeros at the start of a video,
/// then what it returned. `run` is the model: its first input with the batch axis, then the states, to its
/// first output, then the new states in the same order.
///
/// With `startCalls` (the manifest's geometry.start_calls for this role: a tokenizer whose causal start
/// replicates the first frame), the first input of a video is fed that many times before its real call,
/// keeping only the states: that turns the zero states into the replicated start (docs/export.md). A caller
/// that tiles the decoder starts each tile with a nil state, so each tile gets its own warm-up.
public struct StepModel {
    public let stateShapes: [[Int]]
    public let startCalls: Int
    let run: ([Tensor]) throws -> [Tensor]

    public init(stateShapes: [[Int]], startCalls: Int = 0, run: @escaping ([Tensor]) throws -> [Tensor]) {
        precondition(startCalls >= 0, "start calls must not be negative, not \(startCalls)")
        self.stateShapes = stateShapes
        self.startCalls = startCalls
        self.run = run
    }

    /// x without its batch axis -> (first output without its batch axis, new state, was this the first call).
    public func callAsFunction(_ x: Tensor, state: [Tensor]?) throws -> (Tensor, [Tensor], Bool) {
        let first = state == nil
        var states = state ?? stateShapes.map { Tensor(zeros: $0) }
        let batched = x.reshaped([1] + x.shape)
        if first {
            for _ in 0..<startCalls { states = Array(try run([batched] + states).dropFirst()) }
        }
        let out = try run([batched] + states)
        let y = out[0]
        return (y.reshaped(Array(y.shape.dropFirst())), Array(out.dropFirst()), first)
    }
}
