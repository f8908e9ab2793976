package tokenreel.core

/**
 * One step model with explicit state (tokenreel/backends/exported.py `_Step`): zeros at the start of a video,
 * then what it returned. [run] is the model: its inputs in the manifest's order (the first input with its
 * batch axis, then the states) to its outputs (the first output, then the new states in the same order).
 *
 * With [startCalls] (the manifest's geometry.start_calls for this role: a tokenizer whose causal start
 * replicates the first frame), the first input of a video is fed that many times before its real call,
 * keeping only the states: that turns the zero states into the replicated start (docs/export.md). A caller
 * that tiles the decoder starts each tile with a null state, so each tile gets its own warm-up.
 */
class StepModel(private val stateShapes: List<IntArray>, private val outputShape: IntArray, val startCalls: Int = 0,
                private val run: (List<Any>) -> List<FloatArray>) {
    init { require(startCalls >= 0) { "start calls must not be negative, not $startCalls" } }

    /** The step model of a manifest entry: its state inputs and first output as the entry lists them. */
    constructor(artifact: Artifact, startCalls: Int, run: (List<Any>) -> List<FloatArray>) :
        this(artifact.inputs.drop(1).map { it.shape }, artifact.outputs[0].shape, startCalls, run)

    /** x without its batch axis -> (output without its batch axis, new state, whether this was the first call). */
    fun call(x: FloatTensor, state: List<FloatArray>?): Triple<FloatTensor, List<FloatArray>, Boolean> {
        val first = state == null
        var states = state ?: stateShapes.map { FloatArray(it.fold(1) { a, b -> a * b }) }
        if (first) repeat(startCalls) { states = run(listOf<Any>(x.data) + states).drop(1) }
        val out = run(listOf<Any>(x.data) + states)
        return Triple(FloatTensor(outputShape.drop(1).toIntArray(), out[0]), out.drop(1), first)
    }
}
