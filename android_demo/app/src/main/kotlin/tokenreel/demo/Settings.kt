package tokenreel.demo

import android.content.Context
import android.os.Bundle
import androidx.appcompat.app.AppCompatActivity
import androidx.preference.ListPreference
import androidx.preference.PreferenceFragmentCompat
import androidx.preference.PreferenceManager

/** The user's choices, read from the default shared preferences (res/xml/preferences.xml). */
class Settings(context: Context) {
    private val prefs = PreferenceManager.getDefaultSharedPreferences(context)
    val format: String get() = prefs.getString("engine", "onnx")!!
    val provider: Provider get() = Provider.valueOf(prefs.getString("provider", "XNNPACK")!!)
    val precision: String get() = prefs.getString("precision", "int8")!!
    /** "revise" (from a draft) or "maskgit" (from masks), as tokenreel's --sampler. */
    val sampler: String get() = prefs.getString("sampler", "revise")!!
    /** Decoding steps, or null for the sampler's default (revise 0: one call a window, maskgit 12). */
    val steps: Int? get() = prefs.getString("steps", "default")!!.toIntOrNull()
    val seed: Long get() = prefs.getString("seed", "0")!!.toLongOrNull() ?: 0L
    val maxFrames: Int get() = prefs.getString("max_frames", "33")!!.toInt()
    val threads: Int get() = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors() / 2))

    fun engineChoice() = EngineChoice(format, precision, provider, threads)
}

class SettingsActivity : AppCompatActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        supportActionBar?.setDisplayHomeAsUpEnabled(true)
        title = getString(R.string.settings)
        supportFragmentManager.beginTransaction().replace(android.R.id.content, SettingsFragment()).commit()
    }

    override fun onSupportNavigateUp(): Boolean {
        finish()
        return true
    }

    class SettingsFragment : PreferenceFragmentCompat() {
        override fun onCreatePreferences(savedInstanceState: Bundle?, rootKey: String?) {
            setPreferencesFromResource(R.xml.preferences, rootKey)
            // offer the precisions the bundled export holds for the chosen engine
            val precision = findPreference<ListPreference>("precision")!!
            val engine = findPreference<ListPreference>("engine")!!
            fun offer(format: String) {
                val held = try { ModelStore.install(requireContext()).precisions(format) } catch (e: Exception) { emptyList<String>() }
                if (held.isNotEmpty()) {
                    precision.entries = held.toTypedArray()
                    precision.entryValues = held.toTypedArray()
                    if (precision.value !in held) precision.value = held[0]
                }
            }
            offer(engine.value ?: "onnx")
            // the execution provider is an ONNX Runtime setting: ExecuTorch runs its XNNPACK delegate
            val provider = findPreference<ListPreference>("provider")!!
            provider.isEnabled = engine.value != "executorch"
            engine.setOnPreferenceChangeListener { _, value ->
                offer(value as String)
                provider.isEnabled = value != "executorch"
                true
            }
        }
    }
}
