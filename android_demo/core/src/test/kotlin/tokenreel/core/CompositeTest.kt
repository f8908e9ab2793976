package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import java.io.File

/**
 * tests/golden/composite.json (tokenreel/runtime/spec_cases.py's composite_case): reframe's feathered paste and
 * extend's change on the source's last frame give Python's bytes.
 */
class CompositeTest {
    private val case = Golden.json(File(Golden.runtime(), "composite.json")) as Map<*, *>

    /** {"shape": [F, H, W, 3], "data": [...]} -> F frames. */
    private fun frames(key: String): List<Frame> {
        val m = case.obj(key)
        val (f, h, w) = m.ints("shape").toList()
        val data = m.ints("data")
        val size = h * w * 3
        return (0 until f).map { k -> Frame(w, h, ByteArray(size) { data[k * size + it].toByte() }) }
    }

    private fun bytes(frames: List<Frame>) = frames.flatMap { it.rgb.map { b -> b.toInt() and 0xFF } }

    @Test fun featherWeights() {
        val (h, w) = case.obj("weights").ints("shape").toList()
        assertArrayEquals(case.obj("weights").ints("data"), Composite.featherWeights(h, w, case.ints("box"), case.int("feather")))
        // the default feather (8 px): a ramp from the side facing generated canvas, none along the canvas border
        val ramp = Composite.featherWeights(40, 4, intArrayOf(10, 0, 40, 4))
        assertEquals(listOf(0, 16, 48, 80, 112, 144, 176, 208, 240, 256, 256),
            (9..19).map { ramp[it * 4] })
        assertEquals(256, ramp[39 * 4 + 3])
    }

    @Test fun reframedFrames() {
        val out = Composite.reframedFrames(frames("canvas").asSequence(), frames("source").asSequence(), case.ints("box"),
            case.int("feather")).toList()
        assertEquals(bytes(frames("reframed")), bytes(out))
    }

    @Test fun extendedFrames() {
        val out = Composite.extendedFrames(frames("extend_source").asSequence(), frames("generated").asSequence(),
            frames("draft").asSequence()).toList()
        assertEquals(bytes(frames("extended")), bytes(out))
        // no source frames: the generated frames as they are
        assertEquals(bytes(frames("generated")), bytes(Composite.extendedFrames(emptySequence(),
            frames("generated").asSequence(), frames("draft").asSequence()).toList()))
    }

    @Test fun blendRounds() {
        val a = Frame(1, 1, byteArrayOf(255.toByte(), 0, 100))
        val b = Frame(1, 1, byteArrayOf(0, 255.toByte(), 101))
        assertEquals(listOf(128, 128, 101), Composite.blend(a, b, weight = 128).rgb.map { it.toInt() and 0xFF })
    }
}
