package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The Python runtime's reframe and extend on a fake transformer (integer logits / 8, exact in float32),
 * written by tests/test_android_core.py: the same windows in the same order with the same seeds give the
 * same grid.
 */
class FakeTransformer(override val window: IntArray, override val bits: Int, override val splits: Int,
                      override val subBits: Int) : TransformerBackend {
    override val maskId = 1 shl subBits
    var calls = 0

    /** logits[j][n][v] = ((n*131 + v*71 + j*37 + sub[j][n]*13 + sub[j][(n+1) % N]*7) % 97) / 8 - 6 */
    override fun logits(subTokens: LongArray): FloatArray {
        calls++
        val n = subTokens.size / splits
        val v = 1 shl subBits
        val out = FloatArray(splits * n * v)
        for (j in 0 until splits) for (k in 0 until n) for (c in 0 until v) {
            val z = k * 131L + c * 71L + j * 37L + subTokens[j * n + k] * 13 + subTokens[j * n + (k + 1) % n] * 7
            out[(j * n + k) * v + c] = (z % 97 / 8.0 - 6.0).toFloat()
        }
        return out
    }
}

class EditGoldenTest {
    private val cases = Golden.json(Golden.editCases()) as Map<*, *>

    private fun grid(value: Any?): TokenGrid {
        val m = value as Map<*, *>
        val (t, h, w) = m.ints("shape").toList()
        return TokenGrid(t, h, w, m.ints("data"))
    }

    /** A case's steps: null for the sampler's default. */
    private fun steps(m: Map<*, *>): Int? = (m["steps"] as Number?)?.toInt()

    private fun backend(): FakeTransformer {
        val b = cases.obj("backend")
        return FakeTransformer(b.ints("window"), b.int("bits"), b.int("splits"), b.int("sub_bits"))
    }

    @Test fun tileStarts() {
        for (c in cases.list("tile_starts")) {
            val m = c as Map<*, *>
            assertArrayEquals(m.toString(), m.ints("starts"), Edit.tileStarts(m.int("length"), m.int("size"), m.int("min_overlap")))
        }
    }

    @Test fun cropAndCanvas() {
        for (c in cases.list("crop")) {
            val m = c as Map<*, *>
            assertEquals(m.str("aspect"), grid(m["out"]), Edit.reframeCrop(grid(m["in"]), m.str("aspect")))
            val canvas = Edit.outpaintCanvas(grid(m["in"]), m.str("aspect"))
            assertEquals(grid(m["canvas"]), canvas.tokens)
            assertArrayEquals(m.ints("canvas_known").map { it != 0 }.toBooleanArray(), canvas.known)
        }
    }

    @Test fun reframeOutpaint() {
        for (c in cases.list("reframe")) {
            val m = c as Map<*, *>
            val b = backend()
            val calls = IntArray(1)
            val sampler = m.str("sampler")
            val out = Edit.reframeOutpaint(b, grid(m["in"]), m.str("aspect"), steps(m), m.long("seed"),
                { calls[0] += it }, sampler)
            val what = "reframe ${m.str("aspect")} seed ${m.long("seed")} $sampler"
            assertEquals(what, grid(m["out"]), out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
            assertEquals(what, b.calls, calls[0])
            assertTrue(what, out.calls <= Edit.reframeCalls(b.window, grid(m["in"]), m.str("aspect"), steps(m), sampler))
        }
    }

    @Test fun extend() {
        for (c in cases.list("extend")) {
            val m = c as Map<*, *>
            val b = backend()
            val sampler = m.str("sampler")
            val out = Edit.extend(b, grid(m["in"]), m.int("frames"), steps(m), m.long("seed"), sampler = sampler)
            val what = "extend ${m.int("frames")} seed ${m.long("seed")} $sampler"
            assertEquals(what, grid(m["out"]), out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
            assertTrue(what, out.calls <= Edit.extendCalls(b.window, grid(m["in"]), m.int("frames"), steps(m),
                sampler = sampler))
        }
    }

    @Test fun bothSamplersAreCovered() {
        for (kind in listOf("reframe", "extend")) {
            assertEquals(kind, setOf("revise", "maskgit"), cases.list(kind).map { (it as Map<*, *>).str("sampler") }.toSet())
            assertTrue("$kind: a case with the default steps", cases.list(kind).any { (it as Map<*, *>)["steps"] == null })
        }
    }

    /** edit.py's DEFAULT_STEPS and REVISE_THRESHOLD (a threshold per edit). */
    @Test fun defaultsAsPython() {
        val d = cases.obj("defaults")
        val steps = d.obj("steps")
        assertEquals(Edit.SAMPLERS.toSet(), steps.keys)
        for (sampler in Edit.SAMPLERS) assertEquals(sampler, steps.int(sampler), Edit.DEFAULT_STEPS.getValue(sampler))
        val threshold = d.obj("revise_threshold")
        assertEquals(threshold.keys, Edit.REVISE_THRESHOLD.keys)
        for ((edit, value) in Edit.REVISE_THRESHOLD) assertEquals(edit, (threshold[edit] as Number).toDouble(), value, 0.0)
    }

    /** One window revised at each edit's threshold (the grids differ: some drafted token scores between them). */
    @Test fun fillAtEachThreshold() {
        val fills = cases.list("fill")
        assertEquals(Edit.REVISE_THRESHOLD.keys, fills.map { (it as Map<*, *>).str("edit") }.toSet())
        for (c in fills) {
            val m = c as Map<*, *>
            val b = backend()
            val threshold = (m["threshold"] as Number).toDouble()
            assertEquals(Edit.REVISE_THRESHOLD.getValue(m.str("edit")), threshold, 0.0)
            val out = Edit.fill(b, grid(m["tokens"]).data, m.ints("known").map { it != 0 }.toBooleanArray(), m.int("steps"),
                m.long("seed"), null, grid(m["draft"]).data, threshold)
            val what = "fill at ${m.str("edit")}'s threshold $threshold"
            assertArrayEquals(what, grid(m["out"]).data, out.tokens)
            assertEquals(what, m.int("calls"), out.calls)
            assertEquals(what, b.calls, out.calls)
        }
        try {
            val m = fills[0] as Map<*, *>
            Edit.fill(backend(), grid(m["tokens"]).data, m.ints("known").map { it != 0 }.toBooleanArray(), 2, 0, null,
                grid(m["draft"]).data)
            throw AssertionError("a draft without a threshold accepted")
        } catch (e: IllegalArgumentException) {
        }
    }

    @Test fun mirrorDraftAsNumpySymmetricPad() {
        // np.pad([[0, 1, 2]], ((1, 2), (7, 4)), mode="symmetric"): every row the same, reflections repeat
        val d = Edit.mirrorDraft(4, 14, TokenGrid(1, 1, 3, intArrayOf(0, 1, 2)), 1, 7)
        val row = listOf(0, 0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0)
        for (y in 0 until 4) assertEquals(row, (0 until 14).map { d[0, y, it] })
        // np.pad([[0], [1]], ((5, 2), (0, 0)), mode="symmetric"): a margin of five above two rows
        val tall = Edit.mirrorDraft(9, 1, TokenGrid(1, 2, 1, intArrayOf(0, 1)), 5, 0)
        assertEquals(listOf(0, 0, 1, 1, 0, 0, 1, 1, 0), (0 until 9).map { tall[0, it, 0] })
    }

    @Test fun extendDraftCopiesTheLastLatentFrame() {
        val d = Edit.extendDraft(TokenGrid(2, 1, 2, intArrayOf(1, 2, 3, 4)), 9)
        assertEquals(TokenGrid(5, 1, 2, intArrayOf(1, 2, 3, 4, 3, 4, 3, 4, 3, 4)), d)
    }

    @Test fun samplerChoice() {
        assertEquals(0, Edit.checkSampler("revise", null))
        assertEquals(12, Edit.checkSampler("maskgit", null))
        assertEquals(7, Edit.checkSampler("maskgit", 7))
        for ((sampler, steps) in listOf("greedy" to null, "revise" to -1, "maskgit" to 0)) {
            try {
                Edit.checkSampler(sampler, steps)
                throw AssertionError("$sampler $steps accepted")
            } catch (e: TokenreelException) {
            }
        }
    }
}
