package tokenreel.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import java.io.File

class SamplerTest {
    private val case = Golden.json(File(Golden.runtime(), "sampler-v1.json")) as Map<*, *>

    @Test fun specVersion() = assertEquals(Sampler.SPEC_VERSION, case["spec"])

    @Test fun splitMix64ReferenceSequence() {
        // docs/sampler.md: value(1234567, 0..4), the published SplitMix64 sequence
        val expected = listOf("6457827717110365317", "3203168211198807973", "9817491932198370423",
            "4593380528125082431", "16408922859458223821")
        val gen = Generator(1234567)
        assertEquals(expected, (0 until 5).map { java.lang.Long.toUnsignedString(gen.uint64(it.toLong())) })
    }

    @Test fun generatorStream() {
        val g = case.obj("generator")
        val gen = Generator(java.lang.Long.parseUnsignedLong(g.str("key")))
        assertEquals(g.list("uint64"), (0 until 8).map { java.lang.Long.toUnsignedString(gen.uint64(it.toLong())) })
        val derived = gen.derive(7)
        assertEquals(g.list("derive_7_uint64"), (0 until 4).map { java.lang.Long.toUnsignedString(derived.uint64(it.toLong())) })
        val uniforms = g.list("uniform").map { java.lang.Double.doubleToRawLongBits(java.lang.Double.parseDouble(it as String)) }
        assertEquals(uniforms, (0 until 4).map { java.lang.Double.doubleToRawLongBits(gen.uniform(it.toLong())) })
    }

    @Test fun fullDecode() {
        val d = case.obj("decode")
        val logits = Golden.flatten(d["logits"]).map { it.toFloat() }.toFloatArray()
        val known = Golden.ints(d["known"]).map { it != 0 }.toBooleanArray()
        val calls = IntArray(1)
        val out = Sampler.maskgitDecode({ logits }, Golden.ints(d["tokens_in"]), known, d.int("splits"), d.int("sub_bits"),
            1 shl d.int("sub_bits"), d.int("steps"), d.long("seed"), (d["temperature"] as Number).toDouble()) { calls[0] += it }
        assertArrayEquals(Golden.ints(d["tokens_out"]), out)
        assertEquals(d.int("steps"), calls[0])
    }

    @Test fun cosineSchedule() {
        assertEquals(0, Sampler.cosineRemaining(100, 11, 12))
        assertEquals(Math.floor(100 * Math.cos(Math.PI / 2 / 12)).toInt(), Sampler.cosineRemaining(100, 0, 12))
    }
}
