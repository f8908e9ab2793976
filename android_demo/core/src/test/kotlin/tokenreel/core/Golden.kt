package tokenreel.core

import org.junit.Assume
import java.io.File

/** Where the golden files are: system properties set by test.sh (or Gradle). */
object Golden {
    private fun dir(property: String, what: String): File? {
        val path = System.getProperty(property) ?: return null
        val f = File(path)
        if (!f.exists()) throw AssertionError("$property=$path: no such $what")
        return f
    }

    /** tests/golden of the repository: sampler vectors and .trl files. Required. */
    fun runtime(): File = dir("tokenreel.golden", "golden folder")
        ?: throw AssertionError("set -Dtokenreel.golden=DIR (the repository's tests/golden)")

    /** A folder written by `tokenreel verify DIR --write-golden GDIR`; tests that need it are skipped without it. */
    fun verify(): File {
        val d = dir("tokenreel.verifyGolden", "verify golden folder")
        Assume.assumeTrue("no -Dtokenreel.verifyGolden", d != null)
        return d!!
    }

    /** Edit cases written by tests/test_android_core.py (the Python runtime's reframe/extend on a fake model). */
    fun editCases(): File {
        val d = dir("tokenreel.editCases", "edit cases file")
        Assume.assumeTrue("no -Dtokenreel.editCases", d != null)
        return d!!
    }

    /** An export folder (tokenreel export) whose manifest is read and verified. */
    fun export(): File {
        val d = dir("tokenreel.export", "export folder")
        Assume.assumeTrue("no -Dtokenreel.export", d != null)
        return d!!
    }

    fun json(file: File): Any? = Json.parse(file.readText())

    fun ints(value: Any?): IntArray = (value as List<*>).map { (it as Number).toInt() }.toIntArray()

    /** A nested list of numbers, flattened in row-major order. */
    fun flatten(value: Any?, out: MutableList<Number> = ArrayList()): MutableList<Number> {
        if (value is List<*>) value.forEach { flatten(it, out) } else out.add(value as Number)
        return out
    }
}
