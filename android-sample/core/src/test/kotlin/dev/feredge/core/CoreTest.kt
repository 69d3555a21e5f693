package dev.feredge.core

import java.io.File
import java.util.Base64
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Compares the Kotlin core with golden vectors exported by the Python runtime. */
class CoreTest {
    private val root = File(System.getProperty("feredge.repo", "../.."))
    private val goldens: Map<String, Any?> = run {
        @Suppress("UNCHECKED_CAST")
        Json.parse(File(root, "android-sample/core/src/test/resources/goldens.json").readText()) as Map<String, Any?>
    }
    private val model = File(root, goldens["model"] as String).readBytes()
    private val contract = Contract.fromModel(model)

    @Suppress("UNCHECKED_CAST")
    private val cases = goldens["cases"] as List<Map<String, Any?>>

    @Test fun contractComesFromTheModelFile() {
        assertEquals(goldens["labels"], contract.labels)
        assertEquals((goldens["input_size"] as Double).toInt(), contract.inputSize)
        assertEquals(1, contract.channels)
        assertEquals("uint8", contract.inputType)
        assertTrue(contract.cropScale > 1.0)
    }

    @Test fun sameImageAndBoxGiveIdenticalInputBytes() {
        for (c in cases) {
            val w = (c["width"] as Double).toInt()
            val h = (c["height"] as Double).toInt()
            val rgb = Base64.getDecoder().decode(c["rgb_b64"] as String)
            val box = (c["box"] as List<*>).map { (it as Double) }
            val gray = Preprocess.grayFromRgb(rgb, w, h)
            val region = Preprocess.cropBox(box[0], box[1], box[2], box[3], contract)
            val crop = Preprocess.cut(gray, w, h, region, contract.inputSize)
            val want = Base64.getDecoder().decode(c["crop_b64"] as String)
            assertArrayEquals("crop bytes of ${c["name"]}", want, crop)
            assertArrayEquals(want, Preprocess.inputBytes(crop, contract))
        }
    }

    @Test fun sameOutputGivesSameProbabilitiesAndLabel() {
        for (c in cases) {
            val raw = (c["raw_output"] as List<*>).map { (it as Double).toInt().toByte() }.toByteArray()
            val probs = Postprocess.calibrate(Postprocess.dequantizeUint8(raw, (c["output_scale"] as Double).toFloat(),
                (c["output_zero_point"] as Double).toInt()), contract.temperature)
            assertEquals(goldens["temperature"] as Double, contract.temperature, 0.0)
            val want = (c["probabilities"] as List<*>).map { (it as Double).toFloat() }.toFloatArray()
            assertArrayEquals(want, probs, 1e-6f)
            assertEquals(c["label"], Postprocess.label(probs, contract).label)
        }
    }

    @Suppress("UNCHECKED_CAST")
    private val baseline = goldens["baseline"] as Map<String, Any?>

    private fun floats(x: Any?): FloatArray = (x as List<*>).map { (it as Double).toFloat() }.toFloatArray()

    private fun sameRise(want: Any?, got: DoubleArray?, what: String) {
        if (want == null) { assertEquals("$what: read plainly", null, got); return }
        val w = (want as List<*>).map { it as Double }
        for (i in w.indices) assertEquals("$what: rise $i", w[i], got!![i], 5.01e-4)  // Python rounds to 3 decimals
    }

    /** The rule's constants: the runtime contract's (the goldens carry Python's) unless the model says otherwise. */
    @Test fun baselineRuleIsTheRuntimeContracts() {
        @Suppress("UNCHECKED_CAST")
        val r = baseline["rule"] as Map<String, Any?>
        assertEquals(Baseline.Rule.fromDoc(r), contract.baseline)
        assertEquals(Baseline.Rule(), Baseline.Rule.fromDoc(r))
    }

    @Test fun facesReadAgainstAReferenceAsPythonReadsThem() {
        @Suppress("UNCHECKED_CAST")
        val ref = baseline["reference"] as Map<String, Any?>
        val base = Baseline.Mean()
        for (p in ref["references"] as List<*>) base.add(floats(p))
        val reader = Baseline.Reader(contract.labels, contract.baseline)
        for ((k, f) in (ref["faces"] as List<Map<String, Any?>>).withIndex()) {
            val got = reader.against(floats(f["probabilities"]), base)
            assertEquals("reference face $k", f["label"], got.label)
            sameRise(f["rise"], got.rise, "reference face $k")
        }
    }

    @Test fun aTrackBuildsItsOwnBaselineAsPythonDoes() {
        for (t in baseline["tracks"] as List<Map<String, Any?>>) {
            @Suppress("UNCHECKED_CAST")
            val track = Baseline.Track(Baseline.Reader(contract.labels, Baseline.Rule.fromDoc(t["rule"] as Map<String, Any?>)))
            for ((k, f) in (t["frames"] as List<Map<String, Any?>>).withIndex()) {
                val got = track.read(floats(f["probabilities"]))
                assertEquals("${t["name"]} frame $k", f["label"], got.label)
                assertEquals("${t["name"]} frame $k: faces", (f["faces"] as Double).toInt(), got.faces)
                sameRise(f["rise"], got.rise, "${t["name"]} frame $k")
            }
        }
    }

    @Test fun aSittingOfPhotosIsReadAsPythonReadsIt() {
        val photos = baseline["photos"] as List<Map<String, Any?>>
        val got = Baseline.Reader(contract.labels, contract.baseline).photos(photos.map { floats(it["probabilities"]) })
        for ((k, f) in photos.withIndex()) {
            assertEquals("photo $k", f["label"], got[k].label)
            sameRise(f["rise"], got[k].rise, "photo $k")
        }
    }

    @Test(expected = IllegalArgumentException::class)
    fun aModelWithoutNeutralHasNoBaseline() {
        Baseline.Reader(listOf("a", "b", "c"))
    }

    @Test(expected = IllegalArgumentException::class)
    fun aModelWithoutMetadataIsRefused() {
        Contract.fromModel(ByteArray(64))
    }

    /** A model fine-tuned on a user's own labels: the core reads its three labels from the file. */
    @Test fun aThreeLabelModelGivesItsOwnLabels() {
        @Suppress("UNCHECKED_CAST")
        val g = Json.parse(File(root, "tests/fixtures/three_labels.json").readText()) as Map<String, Any?>
        val c = Contract.fromModel(File(root, g["model"] as String).readBytes())
        assertEquals(g["labels"], c.labels)
        assertEquals(3, c.labels.size)
        @Suppress("UNCHECKED_CAST")
        for (case in g["cases"] as List<Map<String, Any?>>) {
            val crop = Base64.getDecoder().decode(case["crop_b64"] as String)
            assertArrayEquals(crop, Preprocess.inputBytes(crop, c))
            val raw = (case["raw_output"] as List<*>).map { (it as Double).toInt().toByte() }.toByteArray()
            val probs = Postprocess.calibrate(Postprocess.dequantizeUint8(raw, (g["output_scale"] as Double).toFloat(),
                (g["output_zero_point"] as Double).toInt()), c.temperature)
            assertEquals(3, probs.size)
            assertEquals(case["label"], Postprocess.label(probs, c).label)
        }
    }
}
