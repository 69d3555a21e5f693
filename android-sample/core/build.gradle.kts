// Platform-independent core: crop, grayscale, resize, dequantize, labels and
// contract from the model file. No Android dependency; also built and tested
// without Gradle by `make android-core-test` (kotlinc + JUnit 4).
plugins { id("org.jetbrains.kotlin.jvm") }

kotlin { jvmToolchain(17) }

dependencies { testImplementation("junit:junit:4.13.2") }

tasks.test { systemProperty("feredge.repo", rootDir.parentFile.absolutePath) }
