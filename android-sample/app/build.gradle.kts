plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.feredge.sample"
    compileSdk = 35
    defaultConfig {
        applicationId = "dev.feredge.sample"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }
    // The model is memory-mapped from the APK: it must stay uncompressed.
    androidResources { noCompress += "tflite" }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/ferModel"))
}

// Copy the release model from the repository's models/ folder into the app's
// assets at build time, so the model is never duplicated in the repository.
val copyFerModel by tasks.registering(Copy::class) {
    from(rootProject.file("../models/fer_mobilenetv2_int8.tflite"))
    into(layout.buildDirectory.dir("generated/ferModel"))
}
tasks.named("preBuild") { dependsOn(copyFerModel) }

dependencies {
    implementation(project(":core"))
    implementation("com.google.ai.edge.litert:litert:1.0.1")
    implementation("com.google.mlkit:face-detection:16.1.7")
    val camerax = "1.4.1"
    implementation("androidx.camera:camera-core:$camerax")
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.activity:activity-ktx:1.9.3")
}
