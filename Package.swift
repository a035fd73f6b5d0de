// swift-tools-version:6.1
import PackageDescription

// The vector loops (SomaSIMD) are compiled from one source file into a baseline module and,
// on x86-64, two modules for newer instruction sets; Soma chooses among them at run time.
#if arch(x86_64)
let acceleratedLoops: [Target] = [
    .target(name: "SomaSIMDAVX2", dependencies: ["SomaSIMD"], swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"])]),
    .target(name: "SomaSIMDAVX512", dependencies: ["SomaSIMD"], swiftSettings: [.unsafeFlags(["-target-cpu", "skylake-avx512"])]),
]
#else
let acceleratedLoops: [Target] = []
#endif

let package = Package(
    name: "Soma",
    products: [
        .library(name: "Soma", targets: ["Soma"]),
        .executable(name: "soma-demo", targets: ["SomaDemo"]),
        .executable(name: "example-mlp", targets: ["ExampleMLP"]),
        .executable(name: "example-cnn", targets: ["ExampleCNN"]),
        .executable(name: "example-rnn", targets: ["ExampleRNN"]),
        .executable(name: "example-dynamic-rnn", targets: ["ExampleDynamicRNN"]),
        .executable(name: "example-forecast", targets: ["ExampleForecast"]),
        .executable(name: "example-autoencoder", targets: ["ExampleAutoencoder"]),
        .executable(name: "example-gan", targets: ["ExampleGAN"]),
        .executable(name: "example-transformer", targets: ["ExampleTransformer"]),
        .executable(name: "example-rl", targets: ["ExampleRL"]),
        .executable(name: "interop-export", targets: ["InteropExport"]),
        .executable(name: "graphtool", targets: ["GraphTool"]),
        .executable(name: "soma-compiler-bench", targets: ["CompilerBench"]),
        .executable(name: "soma-checkpoint-bench", targets: ["CheckpointBench"]),
        .executable(name: "soma-fuzz", targets: ["SomaFuzz"]),
        .library(name: "SomaDistributed", targets: ["SomaDistributed"]),
        .executable(name: "soma-distributed-check", targets: ["DistributedCheck"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // OpenBLAS's CBLAS interface (libopenblas-dev).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // LIBXSMM (libxsmm-dev): JIT-compiled batch-reduce GEMMs for direct convolutions.
        .systemLibrary(name: "CXSMM", path: "Sources/CXSMM"),
        // Open MPI (libopenmpi-dev): the transport of SomaDistributed's collectives.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // protobuf-c code generated from Schemas/ by Tools/generate-protos.sh (committed),
        // plus a hand-written budgeted allocator.
        .target(name: "SomaProto", linkerSettings: [.linkedLibrary("protobuf-c")]),
        // CRC-32C with the SSE4.2/ARMv8 instruction and a table fallback (checkpoints).
        .target(name: "CRC32C"),
        // Which vector instruction sets the CPU has (CPUID through the compiler's builtins), and a spin-wait hint.
        .target(name: "CPUFeatures"),
        // The float32 vector functions and loops, written once (baseline build).
        .target(name: "SomaSIMD", dependencies: ["CPUFeatures"]),
        .target(name: "SomaSIMDBaseline", dependencies: ["SomaSIMD"]),
        .target(
            name: "Soma",
            dependencies: ["CBLAS", "CXSMM", "SomaProto", "CRC32C", "CPUFeatures", "SomaSIMD", "SomaSIMDBaseline"]
                + acceleratedLoops.map { .target(name: $0.name) },
            // The 8×8 digits data set (Tools/extract_digits.py; UCI, CC BY 4.0).
            resources: [.copy("Resources/digits.bin")],
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
        ),
        // The main job: a Keras-style CNN's whole life on the built-in digits.
        .executableTarget(name: "SomaDemo", dependencies: ["Soma"]),
        // Data-parallel training over MPI (Horovod's model): the collectives' transport,
        // DistributedOptimizer, variable broadcast. Its own target: the core needs no MPI.
        .target(name: "SomaDistributed", dependencies: ["Soma", "CMPI"]),
        // Trains a 64→64→10 MLP with Adam on the digits and prints its test accuracy
        // (`--distributed`: on every rank mpirun started).
        .executableTarget(name: "ExampleMLP", dependencies: ["Soma", "SomaDistributed"]),
        // Checks data-parallel training under mpirun (Tools/test-mpi.sh): equivalence with
        // one process, bitwise reproducibility, a rank's death; and times the collectives.
        .executableTarget(name: "DistributedCheck", dependencies: ["Soma", "SomaDistributed"]),
        // A convolutional network (conv, pooling, flatten, dense) on the digits.
        .executableTarget(name: "ExampleCNN", dependencies: ["Soma"]),
        // An LSTM reading the digits row by row.
        .executableTarget(name: "ExampleRNN", dependencies: ["Soma"]),
        .executableTarget(name: "ExampleDynamicRNN", dependencies: ["Soma"]),
        // An LSTM forecasting the next value of a time series, against the last-value baseline.
        .executableTarget(name: "ExampleForecast", dependencies: ["Soma"]),
        // A 64→32→8→32→64 autoencoder on the digits, against the mean-image baseline.
        .executableTarget(name: "ExampleAutoencoder", dependencies: ["Soma"]),
        // A GAN learning the ring of 8 Gaussians: two optimisers on one graph.
        .executableTarget(name: "ExampleGAN", dependencies: ["Soma"]),
        // An encoder-only transformer that learns to sort sequences of 8 digits.
        .executableTarget(name: "ExampleTransformer", dependencies: ["Soma"]),
        // REINFORCE on CartPole, with the classic dynamics in Swift.
        .executableTarget(name: "ExampleRL", dependencies: ["Soma"]),
        // Writes Soma-built graphs and Soma's outputs for TensorFlow to check (Tools/tf-interop.sh).
        .executableTarget(name: "InteropExport", dependencies: ["Soma"]),
        // Compile-time and memory-plan benchmarks (Tools/bench-compiler.sh).
        .executableTarget(name: "CompilerBench", dependencies: ["Soma"]),
        .executableTarget(name: "CheckpointBench", dependencies: ["Soma"]),
        // Fuzz targets for the GraphDef and .npy loaders (Tools/fuzz.sh); replays inputs
        // in an ordinary build.
        .executableTarget(name: "SomaFuzz", dependencies: ["Soma"]),
        // The command-line tool: inspect and run GraphDef files.
        .executableTarget(
            name: "GraphTool",
            dependencies: ["Soma", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "SomaTests",
            dependencies: ["Soma", "SomaSIMD", "GraphTool", "SomaProto"],
            resources: [.copy("Fixtures")]
        ),
    ] + acceleratedLoops,
    swiftLanguageModes: [.v6]
)
