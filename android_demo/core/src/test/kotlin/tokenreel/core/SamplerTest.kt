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

    @Test fun reviseDecode() {
        val d = case.obj("decode")
        val r = case.obj("revise")
        val logits = Golden.flatten(d["logits"]).map { it.toFloat() }.toFloatArray()
        val known = Golden.ints(d["known"]).map { it != 0 }.toBooleanArray()
        val tokens = Golden.ints(d["tokens_in"])
        val draft = r.ints("draft")
        val (splits, subBits) = listOf(d.int("splits"), d.int("sub_bits"))
        val shown = IntArray(tokens.size) { if (known[it]) tokens[it] else draft[it] }
        val scores = Sampler.draftScores(logits, shown, known.indices.filter { !known[it] }.toIntArray(), splits, subBits)
        val expected = r.list("scores").map { java.lang.Double.doubleToRawLongBits(java.lang.Double.parseDouble(it as String)) }
        assertEquals(expected, scores.map { java.lang.Double.doubleToRawLongBits(it) })
        val calls = IntArray(1)
        val progress = IntArray(1)
        val out = Sampler.reviseDecode({ calls[0]++; logits }, tokens, known, draft, splits, subBits, 1 shl subBits,
            r.int("steps"), r.long("seed"), (r["threshold"] as Number).toDouble(), (d["temperature"] as Number).toDouble()) {
            progress[0] += it
        }
        assertArrayEquals(r.ints("tokens_out"), out)
        assertEquals(1 + r.int("steps"), calls[0])
        assertEquals(calls[0], progress[0])
        // steps 0: the redone tokens sampled from the scoring call's logits, one call in all
        calls[0] = 0
        val corrected = Sampler.reviseDecode({ calls[0]++; logits }, tokens, known, draft, splits, subBits, 1 shl subBits,
            0, r.long("seed"), (r["threshold"] as Number).toDouble(), (d["temperature"] as Number).toDouble())
        assertArrayEquals(r.ints("tokens_out_steps_0"), corrected)
        assertEquals(1, calls[0])
    }

    @Test fun reviseKeepsADraftTheModelRatesWell() {
        // logits whose top choice is the draft everywhere: one call, the draft returned as it is
        val splits = 2
        val subBits = 2
        val draft = intArrayOf(5, 0, 15, 9)
        val logits = FloatArray(splits * draft.size * 4)
        for (j in 0 until splits) for (n in draft.indices) logits[(j * draft.size + n) * 4 + ((draft[n] shr (2 * j)) and 3)] = 1f
        val known = booleanArrayOf(false, true, false, false)
        val calls = IntArray(1)
        val out = Sampler.reviseDecode({ calls[0]++; logits }, intArrayOf(0, 7, 0, 0), known, draft, splits, subBits, 4, 3, 1)
        assertArrayEquals(intArrayOf(5, 7, 15, 9), out)
        assertEquals(1, calls[0])
    }

    @Test fun cosineSchedule() {
        assertEquals(0, Sampler.cosineRemaining(100, 11, 12))
        assertEquals(Math.floor(100 * Math.cos(Math.PI / 2 / 12)).toInt(), Sampler.cosineRemaining(100, 0, 12))
    }
}
