package tokenreel.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.io.File

class ManifestTest {
    /** tests/golden/manifest-template.json, the hand-written manifest both ports' tests read. */
    private fun manifestText(sha: String, bytes: Long) =
        File(Golden.runtime(), "manifest-template.json").readText()
            .replace("__SHA__", sha).replace("__BYTES__", bytes.toString())

    @Test fun findsAndVerifies() {
        val dir = createTempDir("manifest")
        try {
            val model = File(dir, "transformer.int8.onnx")
            model.writeBytes("not really a model".toByteArray())
            File(dir, "manifest.json").writeText(manifestText(Manifest.fileSha256(model), model.length()))
            val m = Manifest.read(dir, verify = false)
            val g = m.geometry
            assertEquals(listOf(5, 16, 16), g.window!!.toList())
            assertEquals(512, g.maskId)
            assertEquals(listOf(224, 128), g.frameSize.toList())
            assertEquals("tok-v1", m.tokenizerId)
            val tf = m.find("transformer", "onnx", "int8")
            assertEquals("logits", tf.outputs[0].name)
            assertEquals(listOf(1, 2, 1280), tf.inputs[0].shape.toList())
            m.verify(tf)
            assertEquals(listOf(Pair("state_in_0", "state_out_0")), m.find("encoder_step", "onnx", "fp32").state)
            assertEquals(listOf("int8", "fp32"), m.precisions("onnx"))
            try { m.find("transformer", "executorch", "int8"); fail() } catch (e: TokenreelException) {
                assertTrue(e.message!!.contains("--formats executorch --precision int8"))
            }
            model.appendText("!")                    // changed since export
            try { m.verify(tf); fail() } catch (e: TokenreelException) { assertTrue(e.message!!.contains("re-export")) }
            try { Manifest.read(dir); fail() } catch (e: TokenreelException) { assertTrue(e.message!!.contains("sha256")) }
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test fun folderHashSortsPathsAsPython() {
        val dir = createTempDir("pkg")
        try {
            File(dir, "a").mkdirs(); File(dir, "a/b").writeText("1"); File(dir, "a-c").writeText("2")
            // Python sorts paths part by part: a/b before a-c (whereas as strings '-' < '/')
            val expected = java.security.MessageDigest.getInstance("SHA-256")
            expected.update("a/b\u0000${Manifest.fileSha256(File(dir, "a/b"))}\na-c\u0000${Manifest.fileSha256(File(dir, "a-c"))}\n".toByteArray())
            assertEquals(expected.digest().joinToString("") { String.format("%02x", it) }, Manifest.pathSha256(dir))
            assertEquals(2L, Manifest.pathBytes(dir))
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test fun refusesOtherSchemas() {
        try { Manifest.parse("{\"schema_version\": 2}"); fail() } catch (e: TokenreelException) { assertTrue(e.message!!.contains("schema version 2")) }
        try { Manifest.parse("[1,"); fail() } catch (e: TokenreelException) { assertTrue(e.message!!.contains("not a tokenreel export manifest")) }
    }

    /** tests/golden/manifest-start-calls.json: what Python's check_manifest says of each geometry.start_calls. */
    @Test fun startCallsAsPython() {
        val doc = Golden.json(File(Golden.runtime(), "manifest-start-calls.json")) as Map<*, *>
        val cases = doc["cases"] as List<*>
        assertTrue(cases.size >= 10)
        for (c in cases) {
            c as Map<*, *>
            val text = (doc["manifest"] as String).replace("__START_CALLS__", c["geometry_extra"] as String)
            val error = c["error"] as String?
            val m = try { Manifest.parse(text) } catch (e: TokenreelException) {
                assertEquals("${c["geometry_extra"]}", error, e.message)
                continue
            }
            assertEquals("${c["geometry_extra"]} was accepted", null, error)
            val want = c["start_calls"] as Map<*, *>?
            val got = m.geometry.startCalls
            assertEquals(want?.get("encoder_step"), got?.encoderStep?.toLong())
            assertEquals(want?.get("decoder_step"), got?.decoderStep?.toLong())
        }
    }

    @Test fun realExport() {
        val dir = Golden.export()
        val m = Manifest.read(dir, verify = true)       // every artifact's size and sha256
        val g = m.geometry
        val tf = m.find("transformer", "onnx", "fp32")
        assertEquals(listOf(1, g.splits!!, g.window!!.fold(1) { a, b -> a * b }), tf.inputs[0].shape.toList())
        assertEquals(1 shl g.subBits!!, g.maskId)
        val encoder = m.find("encoder_step", "onnx", "fp32")
        assertEquals(listOf(1, g.group, 3, g.frameSize[1], g.frameSize[0]), encoder.inputs[0].shape.toList())
        assertEquals(encoder.inputs.size - 1, encoder.state.size)
        assertEquals(Sampler.SPEC_VERSION, m.sampler)
    }
}

class JsonTest {
    @Test fun parses() {
        val v = Json.parse(""" {"a": [1, -2.5e3, true, false, null, "x\"\\\/\n\u00e9"], "b": {}, "c": [], "d": 1.0} """) as Map<*, *>
        assertEquals(listOf(1L, -2500.0, true, false, null, "x\"\\/\n\u00e9"), v["a"])
        assertEquals(emptyMap<String, Any>(), v["b"])
        assertEquals(1.0, v["d"])
        for (bad in listOf("", "{", "[1,]", "{\"a\" 1}", "\"abc", "01x", "[1] 2", "nul")) {
            try { Json.parse(bad); fail("accepted '$bad'") } catch (e: Json.ParseException) { }
        }
    }

    @Test fun writesAsPython() {
        // json.dumps({...}, sort_keys=True) in Python gives exactly these
        val value = linkedMapOf("z" to 1L, "a" to listOf(25.0, 29.97, 1e-05, 1e16, 123456789.0, 0.1, -0.0), "é" to "é\n\"")
        assertEquals("""{"a": [25.0, 29.97, 1e-05, 1e+16, 123456789.0, 0.1, -0.0], "z": 1, "\u00e9": "\u00e9\n\""}""",
            Json.write(value))
    }
}
