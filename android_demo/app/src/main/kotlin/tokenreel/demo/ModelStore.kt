package tokenreel.demo

import android.content.Context
import tokenreel.core.Manifest
import tokenreel.core.TokenreelException
import java.io.File

/**
 * The export folder bundled in assets/models (`tokenreel export ... -o app/src/main/assets/models`), copied
 * to internal storage once per app version: ONNX Runtime and ExecuTorch load models from files.
 */
object ModelStore {
    private const val ASSET_DIR = "models"
    private val RUNNABLE = setOf("onnx", "executorch")      // Core ML packages are for the iOS app

    fun install(context: Context): Manifest {
        val target = File(context.filesDir, ASSET_DIR)
        val stamp = File(target, ".installed")
        val version = context.packageManager.getPackageInfo(context.packageName, 0).longVersionCode.toString() +
            ":" + File(context.applicationInfo.sourceDir).lastModified()
        val assets = context.assets
        if (!stamp.isFile || stamp.readText() != version) {
            target.deleteRecursively()
            target.mkdirs()
            val text = try {
                assets.open("$ASSET_DIR/manifest.json").bufferedReader().use { it.readText() }
            } catch (e: java.io.IOException) {
                throw TokenreelException("the app holds no models: export them into app/src/main/assets/models " +
                    "(tokenreel export --formats onnx,executorch --precision int8 -o ...) and rebuild")
            }
            File(target, "manifest.json").writeText(text)
            for (artifact in Manifest.parse(text, target).artifacts) {
                if (artifact.format !in RUNNABLE) continue
                try {
                    assets.open("$ASSET_DIR/${artifact.file}").use { input -> File(target, artifact.file).outputStream().use { input.copyTo(it) } }
                } catch (e: java.io.IOException) {
                    File(target, artifact.file).delete()     // not bundled: choosing it gives the manifest's clear error
                }
            }
            stamp.writeText(version)
        }
        // each artifact is checked against its sha256 when it is opened (EngineChoice.open)
        return Manifest.read(target, verify = false)
    }
}
