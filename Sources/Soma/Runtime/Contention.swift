import Foundation
import Synchronization

/// Whether other processes are competing for the cores, from the time Soma's threads spend
/// ready to run but waiting for a CPU (their run-queue delay, which Linux reports in
/// `/proc/<pid>/task/<tid>/schedstat`).
///
/// On an oversubscribed machine a run split across threads may lose: each of Soma's threads
/// shares its core with a competitor, so at a join one of them has often been preempted and
/// the other waits a scheduler time slice for it. Measured with two busy processes on two
/// cores, one thread's median beat two threads' on every harness workload that splits its
/// work (`wide8_matmul256` 5.0 against 6.2–9.2 ms, `lstm_infer_b32_t32` 2.3 against 2.3–6.4,
/// the MobileNet block 2.4 against 3.4–5.8): a run shorter than a time slice mostly fits in
/// one. So while the monitor reports contention, each plan run goes on the calling thread
/// alone (see ``SessionOptions/adaptsToContention``); results are the same either way.
/// Long runs gain less: alone, one thread gets half a core or a whole one (the scheduler
/// keeps three threads on two cores as two and one), and the pool sometimes had the better
/// mean (`cnn_infer_b64` 19.0–20.5 ms alone against 13.1–17.3; medians 14–21 against 13–16)
/// and sometimes the much worse median (ResNet50 at 224², 134.8 against 73.7–98.3 alone).
///
/// Sampling: ``isContended()`` reads the clock, and at most every ``sampleNanoseconds`` the
/// calling thread's schedstat and the pool's workers' (small reads, no allocation). Over the
/// time since the last sample those threads wanted a CPU for `ran + waited` (a parked worker
/// wants nothing); the monitor enters contention when they waited more than ``enterShare``
/// of that, and leaves when they waited less than ``leaveShare`` after holding for
/// ``holdNanoseconds``; both only as `/proc/loadavg` says other processes' threads are ready
/// to run or not. Leaving on the wait alone, a run alone often had a core to itself while
/// its competitors shared the other, and two threads met them again (two busy processes,
/// `wide8_matmul256`: 15 of 35 decisions contended, the rest flipping back to threads that
/// then waited); entering on it, a worker's wake-up latency on a quiet machine counted
/// (`wide8` 19 of 31 decisions contended, quiet). The caller's wait alone misses the worst
/// case: a caller asleep until its preempted worker finishes is not waiting for a CPU
/// (ResNet50 at 64², 16.2 ms against 8.2, no decision contended).
/// Samples from a calling thread other than the last one's only re-base (its counters are
/// its own).
///
/// Thread-safety: all members may be called from any thread.
public final class ContentionMonitor: @unchecked Sendable {
    /// The process-wide monitor.
    public static let shared = ContentionMonitor()

    static let sampleNanoseconds: UInt64 = 10_000_000
    static let holdNanoseconds: UInt64 = 250_000_000
    static let enterShare = 0.2, leaveShare = 0.05
    /// The least time wanted (ran + waited) a decision is made from.
    static let minimumWantedNanoseconds: UInt64 = 4_000_000
    /// Runnable threads of other processes the machine may have without contention: none
    /// beyond the cores the caller and the pool's workers leave (an eighth of the cores
    /// spare on larger machines).
    static let othersAllowed = max(0, SessionOptions.cores - 1 - ThreadPool.shared.workerCount + SessionOptions.cores / 8)

    /// The scheduler counters of a calling thread and the pool's workers at a moment.
    struct Sample: Equatable {
        /// The calling thread.
        var thread: UInt64
        var ranNanoseconds: UInt64
        var waitedNanoseconds: UInt64
        var at: UInt64
    }

    /// The decision, as plain data: the last sample taken and the state since it.
    struct State: Equatable {
        var contended = false
        var since: UInt64 = 0
        var last: Sample? = nil
        /// Decisions made, and how many of them found contention.
        var decisions = 0, contendedDecisions = 0

        /// The state after `sample`: re-based when the thread changed or went backwards,
        /// unchanged (the sample kept for later) while too little time was wanted.
        /// `othersRunnable`: how many threads besides Soma's are ready to run now, asked
        /// only before a change (`nil`: unknown, no objection).
        mutating func observe(_ sample: Sample, othersRunnable: () -> Int?) {
            guard let last, last.thread == sample.thread, sample.ranNanoseconds >= last.ranNanoseconds,
                  sample.waitedNanoseconds >= last.waitedNanoseconds else {
                self.last = sample
                return
            }
            let ran = sample.ranNanoseconds - last.ranNanoseconds, waited = sample.waitedNanoseconds - last.waitedNanoseconds
            guard ran + waited >= ContentionMonitor.minimumWantedNanoseconds else { return }
            let share = Double(waited) / Double(ran + waited)
            if !contended && share > ContentionMonitor.enterShare
                && othersRunnable().map({ $0 > ContentionMonitor.othersAllowed }) ?? true {
                contended = true
                since = sample.at
            } else if contended && share < ContentionMonitor.leaveShare
                        && sample.at &- since >= ContentionMonitor.holdNanoseconds
                        && othersRunnable().map({ $0 <= ContentionMonitor.othersAllowed }) ?? true {
                contended = false
                since = sample.at
            }
            decisions += 1
            if contended { contendedDecisions += 1 }
            self.last = sample
        }
    }

    /// A fixed answer instead of samples (tests).
    private let forced: Bool?

    init(forced: Bool? = nil) { self.forced = forced }

    private let state = Locked(State())
    private let nextSample = Atomic<UInt64>(0)
    private let contended = Atomic<Bool>(false)
    /// The pool's workers' schedstat paths (NUL-terminated).
    private let workers = Locked<[[CChar]]>([])
    private let aloneRuns = Atomic<Int>(0)

    /// Adds the calling thread (a pool worker, as it starts) to the threads sampled.
    func registerWorker() {
        var link = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &link, link.count - 1)  // "<pid>/task/<tid>"
        guard count > 0 else { return }
        let path = Array("/proc/".utf8CString.dropLast()) + link[..<count] + Array("/schedstat".utf8CString)
        workers.withLock { $0.append(path) }
    }

    /// Whether other processes compete for the cores now; samples the counters when a
    /// sample is due.
    func isContended() -> Bool {
        if let forced { return forced }
        let now = Self.monotonicNanoseconds()
        let next = nextSample.load(ordering: .relaxed)
        if now >= next, nextSample.compareExchange(expected: next, desired: now + Self.sampleNanoseconds,
                                                   ordering: .relaxed).exchanged,
           let sample = sample(at: now) {
            contended.store(state.withLock { state in
                state.observe(sample, othersRunnable: Self.othersRunnable)
                return state.contended
            }, ordering: .relaxed)
        }
        return contended.load(ordering: .relaxed)
    }

    /// Whether the pool's idle threads may yield the CPU while they poll for work: not under
    /// contention. There a `sched_yield` hands the competitor on the thread's core the rest
    /// of the time slice (a 4 ms tick on these machines: `perf sched` showed a worker running
    /// 0.01–0.2 ms between a competitor's 4 ms slices), so the worker was off its core when
    /// work came and the caller did the run nearly alone at half a core. Parked instead, a
    /// worker is woken when work is queued. Two busy processes, `wide8_matmul256` with the
    /// pool (`--no-adapt-to-contention`), medians of 100 runs per process: 7.4–9.1 ms with
    /// yields, 5.9–7.2 without.
    var idleThreadsYield: Bool { !contended.load(ordering: .relaxed) }

    /// The decisions made so far in this process, and how many found contention (`graphtool
    /// bench` reports them for its timed runs).
    public var decisions: (made: Int, contended: Int) { state.withLock { ($0.decisions, $0.contendedDecisions) } }

    /// Plan runs in this process that went on the calling thread alone.
    public var runsAlone: Int { aloneRuns.load(ordering: .relaxed) }

    func countRunAlone() { aloneRuns.add(1, ordering: .relaxed) }

    static func monotonicNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// The counters of the calling thread and the pool's workers (`nil` where the system
    /// has no schedstat): the first two fields of each schedstat, nanoseconds on a CPU and
    /// waiting for one, summed.
    func sample(at now: UInt64) -> Sample? {
        guard var total = Self.readSchedstat("/proc/thread-self/schedstat") else { return nil }
        workers.withLock { paths in
            for path in paths {
                guard let counters = path.withUnsafeBufferPointer({ Self.readSchedstat($0.baseAddress!) }) else { continue }
                total.ran &+= counters.ran
                total.waited &+= counters.waited
            }
        }
        return Sample(thread: UInt64(UInt(bitPattern: Int(pthread_self()))), ranNanoseconds: total.ran,
                      waitedNanoseconds: total.waited, at: now)
    }

    private static func readSchedstat(_ path: UnsafePointer<CChar>) -> (ran: UInt64, waited: UInt64)? {
        readSmallFile(path, parseSchedstat)
    }

    /// Threads of other processes ready to run now, at least: the fourth field of
    /// `/proc/loadavg` (`running/total`, the whole machine's) less the caller and the
    /// pool's workers. `nil` where it cannot be read.
    static func othersRunnable() -> Int? {
        readSmallFile("/proc/loadavg", parseLoadavgRunning).map { max($0 - 1 - ThreadPool.shared.workerCount, 0) }
    }

    /// `parse` of the first 128 bytes of the file at `path` (read into stack memory);
    /// `nil` when it cannot be read.
    private static func readSmallFile<T>(_ path: UnsafePointer<CChar>, _ parse: (UnsafeBufferPointer<UInt8>) -> T?) -> T? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer in
            let count = read(fd, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            return parse(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// The running count of a `/proc/loadavg` line: the number before the `/`.
    static func parseLoadavgRunning(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let slash = bytes.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        var start = slash
        while start > 0 && bytes[start - 1] >= 0x30 && bytes[start - 1] <= 0x39 { start -= 1 }
        guard start < slash, slash - start <= 9 else { return nil }
        return bytes[start..<slash].reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// The first two decimal fields of a schedstat line; `nil` unless both are there.
    static func parseSchedstat(_ bytes: UnsafeBufferPointer<UInt8>) -> (ran: UInt64, waited: UInt64)? {
        var fields: (UInt64, UInt64) = (0, 0)
        var index = 0, digits = 0, value: UInt64 = 0
        for byte in bytes {
            if byte >= 0x30 && byte <= 0x39 {
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
                if o1 || o2 { return nil }
                value = next
                digits += 1
                continue
            }
            guard digits > 0 else { continue }
            if index == 0 { fields.0 = value } else { fields.1 = value }
            index += 1
            if index == 2 { return fields }
            value = 0
            digits = 0
        }
        if digits > 0 && index == 1 { return (fields.0, value) }
        return nil
    }
}
