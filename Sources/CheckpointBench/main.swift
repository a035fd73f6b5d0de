// Checkpoint throughput, for Tools/bench_checkpoints.py (which times TensorFlow on the
// same files in the same run):
//
//   soma-checkpoint-bench write PREFIX [MB]   write MB megabytes in 8 float32 tensors
//   soma-checkpoint-bench read PREFIX         read and CRC-check every tensor (twice; the second timed)
//   soma-checkpoint-bench crc [MB]            CRC-32C: the CPU instruction and the table
//
// Each prints one JSON line: seconds, bytes, MB/s (GB/s for crc). Release builds only.
import Foundation
import Soma

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("soma-checkpoint-bench: \(message)\n".utf8))
    exit(2)
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func report(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: soma-checkpoint-bench write PREFIX [MB] | read PREFIX | crc [MB]") }
switch arguments[1] {
case "write":
    guard arguments.count >= 3 else { fail("write needs a PREFIX") }
    let megabytes = arguments.count > 3 ? Int(arguments[3]) ?? 256 : 256
    let perTensor = megabytes * (1 << 20) / 8 / 4
    var rng = SplitMix64(seed: 1)
    let tensors = try (0..<8).map { _ in
        try Tensor((0..<perTensor).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [perTensor / 1024, 1024])
    }
    let start = now()
    var writer = CheckpointWriter(prefix: arguments[2])
    for (k, t) in tensors.enumerated() { try writer.add("layer_\(k)/kernel", t) }
    let bytes = try writer.write()
    let seconds = now() - start
    report(["op": "write", "seconds": seconds, "bytes": bytes, "mb_per_s": Double(bytes) / 1e6 / seconds])
case "read":
    // Twice, timing the second: a warm process, as TF's is in the harness.
    guard arguments.count >= 3 else { fail("read needs a PREFIX") }
    var seconds = 0.0, bytes = 0
    for _ in 0..<2 {
        let start = now()
        let reader = try CheckpointReader(prefix: arguments[2])
        bytes = 0
        for name in reader.names { bytes += try reader.tensor(name).byteCount }
        seconds = now() - start
    }
    report(["op": "read", "seconds": seconds, "bytes": bytes, "mb_per_s": Double(bytes) / 1e6 / seconds])
case "crc":
    let megabytes = arguments.count > 2 ? Int(arguments[2]) ?? 256 : 256
    var rng = SplitMix64(seed: 2)
    let data = (0..<(megabytes << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    var fields: [String: Any] = ["op": "crc", "bytes": data.count, "hardware": CRC32C.usesHardware]
    data.withUnsafeBytes { bytes in
        for (name, crc) in [("instruction", CRC32C.extend), ("table", CRC32C.extendPortable)] {
            var best = Double.infinity, value: UInt32 = 0
            for _ in 0..<3 {
                let start = now()
                value = crc(0, bytes)
                best = min(best, now() - start)
            }
            fields["\(name)_gb_per_s"] = Double(bytes.count) / 1e9 / best
            fields["\(name)_crc"] = value
        }
    }
    if fields["instruction_crc"] as? UInt32 != fields["table_crc"] as? UInt32 { fail("the instruction and the table disagree") }
    report(fields)
default:
    fail("unknown command '\(arguments[1])'")
}
