package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Test
import java.io.File

/**
 * StepModel's warm-up calls (geometry.start_calls, tokenreel/backends/exported.py `_Step`) on a fake step model
 * whose state depends on its input state: state_out = state_in * 0.5 + x, and its output is the state_in it
 * saw. From zeros, n warm-up calls on x leave 2x(1 - 0.5^n), what the real call must see. The Swift port's
 * StepTests check the same.
 */
class StepTest {
    private class Fake(val size: Int) {
        var calls = 0
        val run: (List<Any>) -> List<FloatArray> = { inputs ->
            calls++
            val x = inputs[0] as FloatArray
            val s = inputs[1] as FloatArray
            assertEquals(size, x.size)
            listOf(s.copyOf(), FloatArray(size) { s[it] * 0.5f + x[it] })
        }
    }

    private fun warmed(x: Float, n: Int): Float { var s = 0f; repeat(n) { s = s * 0.5f + x }; return s }

    private fun step(fake: Fake, shape: IntArray, startCalls: Int) =
        StepModel(listOf(intArrayOf(1) + shape), intArrayOf(1) + shape, startCalls, fake.run)

    @Test fun warmUpCallsFeedTheFirstInputAndKeepOnlyTheStates() {
        for (n in listOf(0, 1, 6, 10)) {
            val fake = Fake(3)
            val model = step(fake, intArrayOf(3), n)
            val x = FloatTensor(intArrayOf(3), floatArrayOf(1f, -2f, 0.25f))
            val (seen, state, first) = model.call(x, null)
            assertEquals(true, first)
            assertEquals(n + 1, fake.calls)              // n warm-up calls, then the real one
            assertArrayEquals(FloatArray(3) { warmed(x.data[it], n) }, seen.data, 0f)
            assertArrayEquals(FloatArray(3) { warmed(x.data[it], n + 1) }, state[0], 0f)
            // later calls carry the state on, with no warm-up
            val y = FloatTensor(intArrayOf(3), floatArrayOf(4f, 4f, 4f))
            val (seen2, _, first2) = model.call(y, state)
            assertEquals(false, first2)
            assertEquals(n + 2, fake.calls)
            assertArrayEquals(state[0], seen2.data, 0f)
        }
    }

    private fun goldenManifest(extra: String): Manifest {
        val doc = Golden.json(File(Golden.runtime(), "manifest-start-calls.json")) as Map<*, *>
        return Manifest.parse((doc["manifest"] as String).replace("__START_CALLS__", extra))
    }

    @Test fun theManifestSaysHowManyCallsAndNoneWithoutStartCalls() {
        val v2 = goldenManifest(""", "start_calls": {"encoder_step": 6, "decoder_step": 10}""").geometry.startCalls!!
        val v1 = goldenManifest("").geometry.startCalls
        assertNull(v1)
        for ((role, calls) in listOf("encoder_step" to 6, "decoder_step" to 10)) {
            assertEquals(calls, v2.of(role))
            val fake = Fake(2)
            step(fake, intArrayOf(2), v2.of(role)).call(FloatTensor(intArrayOf(2), floatArrayOf(1f, 1f)), null)
            assertEquals(calls + 1, fake.calls)
        }
        val fake = Fake(2)      // a v1 manifest (zero start): the real call only, on zero states
        val (seen, _, _) = step(fake, intArrayOf(2), v1?.encoderStep ?: 0).call(FloatTensor(intArrayOf(2), floatArrayOf(1f, 1f)), null)
        assertEquals(1, fake.calls)
        assertArrayEquals(floatArrayOf(0f, 0f), seen.data, 0f)
    }

    @Test fun eachDecoderTileWarmsUpOnItsFirstLatentFrame() {
        val n = 10
        val tile = 8
        val fake = Fake(3 * tile * tile)
        val decoder = step(fake, intArrayOf(1, 3, tile, tile), n)    // bits 3, spatial 1: a frame of 3 channels per latent
        @Suppress("UNCHECKED_CAST")
        val decode = { t: FloatTensor, s: Any? -> decoder.call(t, s as List<FloatArray>?).let { StepOutput(it.first, it.second) } }
        val latents = FloatTensor(intArrayOf(1, 3, 12, 12)).also { it.data.fill(1f) }
        val (frames, states) = Tiles.decodeTiled(decode, latents, null, tile, tile, 1)
        assertEquals(4, states.size)                                   // 2 x 2 tiles of 8 over 12
        assertEquals(4 * (n + 1), fake.calls)                          // each tile: n warm-up calls, then its own
        for (v in frames.data) assertEquals(warmed(1f, n), v, 1e-6f)
        val (later, _) = Tiles.decodeTiled(decode, latents, states, tile, tile, 1)
        assertEquals(4 * (n + 2), fake.calls)                          // then one call a tile
        for (v in later.data) assertEquals(warmed(1f, n + 1), v, 1e-6f)
    }

    @Test fun refusesNegativeStartCalls() {
        try { StepModel(emptyList(), intArrayOf(1), -1) { it.map { FloatArray(0) } }; org.junit.Assert.fail() } catch (e: IllegalArgumentException) { }
    }
}
