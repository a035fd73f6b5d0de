// soma-fuzz: coverage-guided fuzzing of Soma's loaders. Tools/fuzz.sh builds it with
// `--sanitize=fuzzer --sanitize=address -Xswiftc -DSOMA_LIBFUZZER` and runs
//
//   SOMA_FUZZ_TARGET=graphdef soma-fuzz [libFuzzer options] [corpus folders]
//
// (an environment variable, so that libFuzzer's -fork/-jobs children fuzz the same
// target). An ordinary build replays inputs instead, so a finding reproduces without the
// fuzzing toolchain:
//
//   soma-fuzz graphdef|npy|checkpoint|checkpointstate|savedmodel FILE|FOLDER …
import Foundation

#if SOMA_LIBFUZZER
/// The target, from `SOMA_FUZZ_TARGET`.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["SOMA_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("soma-fuzz: set SOMA_FUZZ_TARGET to \(names)\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's callback: one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selectedTarget.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: soma-fuzz \(names) FILE|FOLDER …\n".utf8))
            exit(2)
        }
        var files: [URL] = []
        for path in arguments.dropFirst(2) {
            let url = URL(fileURLWithPath: path)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("soma-fuzz: no file \(path)\n".utf8))
                exit(2)
            }
            if isFolder.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { url.appendingPathComponent($0) }
            } else {
                files.append(url)
            }
        }
        for file in files {
            guard let data = try? Data(contentsOf: file) else { continue }
            data.withUnsafeBytes { target.run($0) }
        }
        print("soma-fuzz \(target.rawValue): replayed \(files.count) inputs")
    }
}
#endif
