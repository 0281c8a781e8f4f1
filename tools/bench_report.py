"""Turns the benchmark results (bench/results.json, written by tools/bench)
into docs/benchmarks.md, its two charts, and the latency column of the
comparison table in docs/README.md.

Every figure and every comparison on those pages is computed here from the
results, including the words that depend on them ("faster", "about the
same"), so a rerun on another machine rewrites them consistently. The prose
that does not depend on the numbers (what is measured, and how) is fixed.

Python 3 standard library; the charts are drawn by gnuplot (SVG).
"""

import os
import re
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass

# --------------------------------------------------------------- the data

# Mechanisms in table order: (key in the benchmark names, English, Korean).
MECHANISMS = [
    ("pipe", "pipe", "파이프"),
    ("pipe-per-call", "pipe, a SIGPIPE guard per call",
     "파이프, 호출마다 SIGPIPE 보호"),
    ("sysv-queue", "System V queue", "System V 큐"),
    ("posix-queue", "POSIX queue", "POSIX 큐"),
    ("shm", "shared memory + semaphores", "공유 메모리 + 세마포어"),
    ("shm-ring-64B", "kata RingBuffer (64 B slots)",
     "카타의 RingBuffer(64 B 슬롯)"),
    ("unix-socket", "Unix socket", "유닉스 소켓"),
    ("tcp", "TCP loopback", "TCP 루프백"),
]
FLOORS = {
    "latency": [("spin", "floor: busy-wait, one cache line",
                 "하한: 캐시 라인 하나에서 바쁜 대기")],
    "throughput": [("spin-ring", "floor: busy-wait ring",
                    "하한: 바쁜 대기 링"),
                   ("memcpy", "floor: memcpy, one process",
                    "하한: 프로세스 하나의 memcpy"),
                   ("memcpy-dram", "floor: memcpy from main memory",
                    "하한: 주 메모리에서 memcpy")],
}
SIZES = {"latency": [8, 1024], "throughput": [4096, 65536]}
PLACEMENTS = [("split", "two CPUs (split)", "CPU 둘(split)"),
              ("same", "one CPU (same)", "CPU 하나(same)")]
LIMIT = 1.10  # the bound on kata ÷ raw


@dataclass
class Stat:
    """One benchmark's repetitions: median, min and max, and how many."""
    median: float
    low: float
    high: float
    count: int

    def text(self, digits=3):
        return (f"{fmt(self.median, digits)} ({fmt(self.low, digits)}.."
                f"{fmt(self.high, digits)})")


def fmt(value, digits=3):
    """`value` with `digits` significant digits, without exponent."""
    if value == 0:
        return "0"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    if abs(value) < 1:
        text = f"{value:.{digits}g}"
        if "e" in text:  # very small: plain decimals instead
            text = f"{value:.{digits + 3}f}".rstrip("0")
        return text
    decimals = max(0, digits - magnitude)
    return f"{value:,.{decimals}f}"


def size_label(size):
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


class Results:
    """The parsed results: a Stat per benchmark name, and the run's facts."""

    def __init__(self, results):
        self.raw = results
        values = {}
        switches = {}
        self.errors = {}
        for run in results["runs"]:
            if "error" in run:
                self.errors[run["name"]] = run["error"]
                continue
            name = run["name"]
            measure = name.split("/")[0]
            if measure == "latency":
                value = to_microseconds(run["real_time"], run["time_unit"])
            else:
                value = run["bytes_per_second"] / 1e9  # GB/s, one way
            values.setdefault(name, []).append(value)
            if "switches" in run and "peer_switches" in run:
                switches.setdefault(name, []).append(
                    run["switches"] + run["peer_switches"])
        self.stats = {name: Stat(statistics.median(v), min(v), max(v), len(v))
                      for name, v in values.items()}
        # Context switches of both processes per iteration (median).
        self.switches = {name: statistics.median(v)
                         for name, v in switches.items()}
        counts = sorted({s.count for s in self.stats.values()})
        self.repetitions = counts[-1] if counts else 0

    def get(self, measure, mechanism, impl, size, placement):
        return self.stats.get(f"{measure}/{mechanism}/{impl}/{size}/"
                              f"{placement}")

    def floor(self, measure, mechanism, size, placement):
        where = "one" if mechanism.startswith("memcpy") else placement
        return self.get(measure, mechanism, "floor", size, where)

    def cost(self, measure, mechanism, size, placement):
        """kata time ÷ raw time (medians), or None."""
        kata = self.get(measure, mechanism, "kata", size, placement)
        raw = self.get(measure, mechanism, "raw", size, placement)
        if not kata or not raw:
            return None
        if measure == "latency":
            return kata.median / raw.median
        return raw.median / kata.median  # a rate: the inverse of a time

    def switches_of(self, measure, mechanism, impl, size, placement):
        return self.switches.get(f"{measure}/{mechanism}/{impl}/{size}/"
                                 f"{placement}")

    def overlap(self, measure, mechanism, size, placement):
        """Whether the kata and raw min..max ranges overlap (noise)."""
        kata = self.get(measure, mechanism, "kata", size, placement)
        raw = self.get(measure, mechanism, "raw", size, placement)
        return kata.low <= raw.high and raw.low <= kata.high


def to_microseconds(value, unit):
    return value * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[unit]


# ------------------------------------------------------------- formatting


def ratio_text(value):
    return f"{value:.2f}"


def times(a, b):
    """"3.4×": how many times `a` is `b`."""
    return f"{fmt(a / b, 2)}×"


def bae(a, b):
    """"3.4배": the Korean of times()."""
    return f"{fmt(a / b, 2)}배"


def quotient(a, b, a_name, b_name):
    """"shared memory ÷ pipe = 0.96": a ratio that says which way it goes."""
    return f"{a_name} ÷ {b_name} = {a / b:.2f}"


def percent(a, b):
    return f"{100 * a / b:.0f} %"


def mechanism_names(key):
    for k, en, ko in MECHANISMS + FLOORS["latency"] + FLOORS["throughput"]:
        if k == key:
            return en, ko
    return key, key


# ----------------------------------------------------------------- tables


def table(r, measure, placement):
    """One placement's table: kata, raw and their cost ratio per size."""
    sizes = SIZES[measure]
    header = ["mechanism / 메커니즘"]
    for size in sizes:
        header += [f"{size_label(size)} kata", f"{size_label(size)} raw",
                   "kata ÷ raw"]
    lines = ["| " + " | ".join(header) + " |",
             "|---" + "|---:" * (len(header) - 1) + "|"]
    for key, en, ko in MECHANISMS:
        cells = [f"{en} / {ko}"]
        for size in sizes:
            kata = r.get(measure, key, "kata", size, placement)
            raw = r.get(measure, key, "raw", size, placement)
            cost = r.cost(measure, key, size, placement)
            cells += [kata.text() if kata else "–", raw.text() if raw else "–",
                      bold_if(cost)]
        lines.append("| " + " | ".join(cells) + " |")
    for key, en, ko in FLOORS[measure]:
        cells = [f"*{en} / {ko}*"]
        present = False
        for size in sizes:
            stat = r.floor(measure, key, size, placement)
            present = present or stat is not None
            cells += ["–", stat.text() if stat else "–", "–"]
        if present:
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def bold_if(cost):
    if cost is None:
        return "–"
    return f"**{ratio_text(cost)}**" if cost > LIMIT else ratio_text(cost)


# ----------------------------------------------------------------- charts

CHART_LABELS = {
    "pipe": "pipe", "pipe-per-call": "pipe, guard per call",
    "sysv-queue": "SysV queue", "posix-queue": "POSIX queue",
    "shm": "shm + sem", "shm-ring-64B": "RingBuffer 64 B",
    "unix-socket": "Unix socket", "tcp": "TCP", "spin": "spin (floor)",
    "spin-ring": "spin ring (floor)", "memcpy": "memcpy (floor)",
    "memcpy-dram": "memcpy, DRAM (floor)",
}


def chart(r, measure, path):
    """A log-scale bar chart of the kata medians (floors: their own), with
    min..max error bars, drawn by gnuplot as SVG."""
    sizes = SIZES[measure]
    series = [(size, placement) for size in sizes
              for placement, _, _ in PLACEMENTS]
    keys = [k for k, _, _ in MECHANISMS] + [k for k, _, _ in FLOORS[measure]]
    rows = []
    for key in keys:
        floor = key in {k for k, _, _ in FLOORS[measure]}
        cells = [f'"{CHART_LABELS[key]}"']
        for size, placement in series:
            stat = (r.floor(measure, key, size, placement) if floor else
                    r.get(measure, key, "kata", size, placement))
            cells += ([repr(stat.median), repr(stat.low), repr(stat.high)]
                      if stat else ["?", "?", "?"])
        rows.append(" ".join(cells))
    if measure == "latency":
        title = ("Round trip between two processes, reference solutions "
                 "(median, min..max)")
        ylabel = "µs per round trip (log scale; lower is better)"
    else:
        title = ("One-way throughput between two processes, reference "
                 "solutions (median, min..max)")
        ylabel = "GB/s (log scale; higher is better)"
    names = {"split": "two CPUs", "same": "one CPU"}
    plots = []
    for i, (size, placement) in enumerate(series):
        column = 2 + 3 * i
        tic = ":xtic(1)" if i == 0 else ""
        plots.append(f"'{{data}}' using {column}:{column + 1}:{column + 2}{tic}"
                     f" title '{size_label(size)}, {names[placement]}'")
    script = f"""
set terminal svg size 960,520 dynamic font "sans,12" background "white"
set output '{{out}}'
set title "{title}"
set ylabel "{ylabel}"
set datafile missing "?"
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics mytics
set xtics rotate by -30 scale 0
set key top left
set bars front
plot {", ".join(plots)}
"""
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "data.txt")
        with open(data, "w") as f:
            f.write("\n".join(rows) + "\n")
        script = script.replace("{data}", data).replace("{out}", path)
        gnuplot = shutil.which("gnuplot")
        if not gnuplot:
            raise SystemExit("bench: gnuplot is missing (tools/setup.sh "
                             "installs it: apt-get install gnuplot-nox)")
        subprocess.run([gnuplot], input=script, text=True, check=True)


# ------------------------------------------------------------ the sections

# Why a reference solution costs more than the raw calls, per mechanism, and
# how the gap could be closed. Shown only for a gap above LIMIT that is larger
# than the run's noise.
REASONS = {
    "pipe": (
        "the kata's writer holds one `SigpipeGuard` for the whole run, so "
        "`WriteAll` makes the same `write()` calls as the raw loop and no "
        "other; a gap here is the loop's own work or the run's noise.",
        "카타의 쓰는 쪽은 실행 내내 `SigpipeGuard` 하나를 쥐므로 `WriteAll`은 "
        "raw 루프와 같은 `write()`만 부르고 다른 호출은 하지 않습니다. 여기서 "
        "차이가 나면 루프 자체의 일이거나 실행의 잡음입니다."),
    "pipe-per-call": lambda r: (
        "with no `SigpipeGuard` held, `WriteAll` blocks SIGPIPE for each "
        "call, so that a reader that has gone is an `EPIPE` error and not the "
        "death of the process: one `pthread_sigmask` to block it and one to "
        "give it back, two system calls per message that the raw `write()` "
        "does not make. A library call cannot do with fewer, because whether "
        "SIGPIPE kills depends on the caller's mask and disposition, which "
        f"may change between two calls. One system call that does nothing "
        f"costs {syscall_toll(r)} on this machine (`latency/syscall`, the "
        "floor of [bench/floors_bench.cc](../bench/floors_bench.cc)), so the "
        "two alone are as much as a 4 KiB `write()`. On one CPU they also "
        "change who runs: the context-switch column shows the writer giving "
        "up its CPU after nearly every message, where the raw writer fills "
        "the pipe first. The learner's way out is the `pipe` row: hold one "
        "`SigpipeGuard` across many writes (the pipe kata, Stage 5), or "
        "ignore SIGPIPE once at start-up in a program that owns its signals.",
        "`SigpipeGuard`가 없으면 `WriteAll`은 읽는 쪽이 사라졌을 때 프로세스가 "
        "죽지 않고 `EPIPE` 오류가 되도록 호출마다 SIGPIPE를 막습니다. 막을 때 "
        "`pthread_sigmask` 한 번, 되돌릴 때 한 번, raw `write()`에는 없는 "
        "시스템 콜 두 개가 메시지마다 더 듭니다. 라이브러리 호출은 이보다 줄일 "
        "수 없습니다. SIGPIPE가 프로세스를 죽일지는 호출한 쪽의 마스크와 처리 "
        "방식에 달렸고, 그것은 두 호출 사이에도 바뀔 수 있기 때문입니다. 아무 "
        f"일도 하지 않는 시스템 콜 하나가 이 머신에서 {syscall_toll(r)} 걸리므로"
        "(`latency/syscall`, [bench/floors_bench.cc](../bench/floors_bench.cc)의 "
        "하한) 두 호출만으로 4 KiB `write()` 하나만큼입니다. CPU 하나에서는 누가 "
        "도는지도 바꿉니다. 컨텍스트 스위치 열에서 보듯 쓰는 쪽이 거의 메시지마다 "
        "CPU를 내놓는데, raw 쪽은 파이프를 먼저 채웁니다. 학습자가 피하는 길은 "
        "`pipe` 행입니다. 여러 번 쓰는 동안 `SigpipeGuard` 하나를 쥐거나(pipe "
        "카타 5단계), 시그널을 스스로 정하는 프로그램이라면 시작할 때 SIGPIPE를 "
        "한 번 무시합니다."),
    "sysv-queue": (
        "`Send` copies the text into a new buffer laid out as `msgsnd` wants "
        "it (the type, then the text), and `Receive` reserves a buffer of "
        "the full capacity (8 KiB by default) and then copies the message "
        "into the `std::string` it returns: an allocation and a copy more "
        "per message on each side. To close the gap: keep one buffer per "
        "queue and let the caller receive into its own buffer. (The "
        "reference solution no longer zero-fills those buffers.)",
        "`Send`는 `msgsnd`가 원하는 모양(타입 다음에 텍스트)의 새 버퍼에 "
        "텍스트를 복사하고, `Receive`는 최대 용량(기본 8 KiB)의 버퍼를 잡은 뒤 "
        "메시지를 반환할 `std::string`에 다시 복사합니다. 양쪽 모두 메시지마다 "
        "할당과 복사가 하나씩 더 듭니다. 줄이는 법: 큐마다 버퍼 하나를 두고, "
        "호출한 쪽의 버퍼로 받게 합니다. (참조 풀이는 이제 이 버퍼를 0으로 "
        "채우지 않습니다.)"),
    "posix-queue": (
        "`Receive` reads the queue's message size once, when the queue is "
        "opened (it cannot change afterwards), and receives into a buffer "
        "it keeps; then it copies the message into the `std::string` of the "
        "`PosixMessage` it returns: one allocation and one copy per message "
        "that the raw version, receiving into its own buffer, does not make. "
        "That copy is the price of an interface that hands the caller a "
        "message it owns.",
        "`Receive`는 큐를 열 때 메시지 크기를 한 번 읽고(그 뒤로는 바뀌지 "
        "않습니다) 계속 쓰는 버퍼로 받습니다. 그다음 메시지를 돌려줄 "
        "`PosixMessage`의 `std::string`으로 복사합니다. 자기 버퍼로 받는 raw "
        "버전에는 없는 할당과 복사가 메시지마다 하나씩 더 듭니다. 호출한 쪽이 "
        "소유하는 메시지를 건네는 인터페이스의 대가입니다."),
    "shm": (
        "`SharedSemaphore::WaitFor` tries `sem_trywait` first, which takes a "
        "token that is there in user space, with no system call and no clock "
        "read. When it must sleep, it waits with a deadline (`sem_timedwait` "
        "after a `clock_gettime`), so that a dead peer is an error and not a "
        "hang: the kernel then arms a timer for the deadline and cancels it "
        "on the wake-up, which `sem_wait` does not. In a round trip every "
        "wait sleeps (the peer has not answered yet), so each pays for the "
        "clock and the timer. That is the price of Stage 6; a program that "
        "accepts hanging on a dead peer can use `sem_wait`.",
        "`SharedSemaphore::WaitFor`는 먼저 `sem_trywait`을 합니다. 토큰이 "
        "있으면 시스템 콜도 시계 읽기도 없이 사용자 공간에서 가져갑니다. "
        "잠들어야 할 때는 상대가 죽었을 때 멈추지 않고 오류가 되도록 마감 "
        "시각을 두고 기다립니다(`clock_gettime` 뒤에 `sem_timedwait`). 그러면 "
        "커널은 마감 시각용 타이머를 걸고, 깨어날 때 취소합니다. `sem_wait`은 "
        "그러지 않습니다. 왕복에서는 모든 기다림이 잠듭니다(상대가 아직 답하지 "
        "않았으니까요). 그래서 매번 시계와 타이머 값을 치릅니다. 이것이 Stage 6의 "
        "대가입니다. 죽은 상대 때문에 멈춰도 되는 프로그램은 `sem_wait`을 쓰면 "
        "됩니다."),
    "unix-socket": (
        "Both versions now gather header and payload with one `sendmsg` and "
        "receive into a buffer they reuse (the kata through `ReceiveFrame`'s "
        "overload that fills the caller's buffer); what is left is the "
        "kata's checks per frame (the size against the limit, the "
        "`std::optional`) and its `poll` only when a send would block.",
        "이제 두 버전 모두 헤더와 페이로드를 `sendmsg` 한 번으로 모아 보내고, "
        "재사용하는 버퍼로 받습니다(카타는 호출한 쪽의 버퍼를 채우는 "
        "`ReceiveFrame` 오버로드로). 남은 것은 프레임마다 하는 카타의 "
        "검사(크기와 한도의 비교, `std::optional`)와, 보내기가 막힐 때만 "
        "부르는 `poll`입니다."),
}
REASONS["tcp"] = REASONS["unix-socket"]
REASONS["shm-ring-64B"] = REASONS["shm"]


def method_section(results, r):
    flags = " ".join(results.get("binary_flags", []))
    return f"""<a id="method"></a>
## How it is measured / 측정 방법

- Two real processes: the benchmark process and a peer it forks, the same
  way for every mechanism and for both versions of it
  ([bench/harness.cc](../bench/harness.cc)). Both are pinned: on two
  different CPUs (**split**) or both on the first CPU (**same**). On two
  CPUs every hand-off that finds the other process asleep wakes it on the
  other CPU; on one CPU it is a context switch.
- **kata** calls the reference solution's public API
  (`solutions/<topic>`); **raw** sends the same bytes, with the same kernel
  objects, through system calls written inline in the benchmark. They run
  in the same process, in the same run: **kata ÷ raw** (time over time) is
  what the wrapper costs. A ratio above {LIMIT:.2f} is in bold.
- A round trip sends the message and waits for the same number of bytes
  back; the time is per round trip. A one-way stream sends messages of one
  size and stops the clock only when the peer has acknowledged the last one,
  so nothing still in flight is counted; GB/s is 10⁹ bytes per second, one
  way. Each side copies the message out of its own buffer and into
  another, as a real program would.
- Every benchmark ran {r.repetitions} times; the order of all repetitions of
  all benchmarks was shuffled (Google Benchmark's random interleaving), so a
  drift in the machine's speed hits kata and raw alike. Each figure is the
  median, with the fastest and slowest repetitions in parentheses.
- Limits the mechanisms impose, the same in both versions: a System V or
  POSIX message holds at most 8 KiB by default (`msgmax`,
  `msgsize_max`), so 64 KiB travel as eight 8 KiB messages; a System V
  queue holds at most 16 KiB (`msgmnb`), a POSIX queue 10 messages
  (`msg_max`). The pipe kata has no "read exactly n bytes", so both pipe
  versions read with the same raw loop and only the writes differ; the kata
  writer holds one `SigpipeGuard` for the run, and **pipe, a SIGPIPE guard
  per call** is the same stream without it. Sockets
  carry the kata's frames (a 4-byte length, then the payload) in both
  versions; TCP has `TCP_NODELAY` on both ends.
- Shared memory comes twice. **shared memory + semaphores** is the textbook
  pattern built from the kata's `SharedObject`, `SharedMemory` and
  `SharedSemaphore`: a round trip hands one slot back and forth with two
  semaphores, a stream goes through a ring of 8 slots of the message size.
  **kata RingBuffer** is the kata's own `RingBuffer::Push` and `Pop`, whose
  slots hold 64 bytes: a message travels as ⌈size ÷ 64⌉ slots, each handed
  over with three semaphores.
- The floors need no kernel: two processes busy-waiting on shared memory
  (a turn counter in the same cache line as the message, or a ring with
  head and tail counters), and `memcpy` into 8 slot-sized buffers in one
  process. They keep both CPUs fully busy, which the blocking mechanisms do
  not, and two busy-waiting processes cannot share one CPU: they run split
  only. One more floor prices a system call: `latency/syscall` is one
  `getppid()`, the cheapest call into the kernel, in one process
  ({syscall_toll(r)} in this run).
- Binary flags: `{flags}`.

* 진짜 프로세스 두 개를 씁니다. 벤치마크 프로세스와 그 프로세스가 fork한 상대
  프로세스이며, 모든 메커니즘과 그 두 버전 모두 같은 방식으로 만듭니다
  ([bench/harness.cc](../bench/harness.cc)). 둘 다 CPU에 고정합니다. 서로 다른
  두 CPU(**split**)이거나, 둘 다 첫 번째 CPU(**same**)입니다. CPU가 둘이면
  상대가 잠들어 있을 때마다 건네주기가 다른 CPU에 있는 상대를 깨우고, CPU가
  하나면 컨텍스트 스위치가 됩니다.
* **kata**는 참조 풀이의 공개 API(`solutions/<topic>`)를 부르고, **raw**는 같은
  커널 객체로 같은 바이트를 벤치마크 안에 직접 쓴 시스템 콜로 보냅니다. 둘은
  같은 실행, 같은 프로세스에서 돌므로 **kata ÷ raw**(시간 대 시간)가 래퍼의
  비용입니다. {LIMIT:.2f}보다 큰 비율은 굵게 표시했습니다.
* 왕복은 메시지를 보내고 같은 바이트 수가 돌아올 때까지 기다리며, 시간은 왕복
  한 번당입니다. 단방향 스트림은 한 크기의 메시지를 보내고, 상대가 마지막
  메시지를 받았다고 알려 올 때 시계를 멈추므로 아직 전달 중인 데이터는 세지
  않습니다. GB/s는 한 방향으로 초당 10⁹바이트입니다. 실제 프로그램처럼 양쪽
  모두 메시지를 자기 버퍼에서 꺼내 다른 곳으로 복사합니다.
* 모든 벤치마크를 {r.repetitions}번 반복했고, 모든 벤치마크의 모든 반복 순서를
  섞었습니다(Google Benchmark의 random interleaving). 그래서 컴퓨터 속도가
  흔들려도 kata와 raw가 똑같이 영향을 받습니다. 각 수치는 중앙값이고, 괄호 안은
  가장 빠른 반복과 가장 느린 반복입니다.
* 메커니즘이 정한 한계는 두 버전에 똑같이 적용됩니다. System V와 POSIX 메시지는
  기본적으로 최대 8 KiB이므로(`msgmax`, `msgsize_max`) 64 KiB는 8 KiB 메시지
  여덟 개로 갑니다. System V 큐는 최대 16 KiB(`msgmnb`), POSIX 큐는 메시지 10개
  (`msg_max`)까지 담습니다. 파이프 카타에는 "정확히 n바이트 읽기"가 없어서 두
  파이프 버전은 같은 raw 읽기 루프를 쓰고, 쓰기만 다릅니다. 카타의 쓰는 쪽은
  실행 내내 `SigpipeGuard` 하나를 쥐며, **파이프, 호출마다 SIGPIPE 보호**는
  그것 없이 같은 스트림을 잽니다. 소켓은 두 버전 모두
  카타의 프레임(4바이트 길이, 그다음 페이로드)을 나르고, TCP는 양 끝에
  `TCP_NODELAY`를 켭니다.
* 공유 메모리는 두 번 나옵니다. **공유 메모리 + 세마포어**는 카타의
  `SharedObject`, `SharedMemory`, `SharedSemaphore`로 만든 교과서 방식입니다.
  왕복은 슬롯 하나를 세마포어 두 개로 주고받고, 스트림은 메시지 크기의 슬롯
  8개짜리 링을 지납니다. **카타의 RingBuffer**는 카타 자체의
  `RingBuffer::Push`와 `Pop`이며 슬롯이 64바이트입니다. 메시지는 ⌈크기 ÷ 64⌉개
  슬롯으로 나뉘어, 슬롯마다 세마포어 세 개로 건네집니다.
* 하한에는 커널이 필요 없습니다. 공유 메모리에서 바쁘게 기다리는 두
  프로세스(메시지와 같은 캐시 라인에 있는 차례 카운터, 또는 head와 tail
  카운터가 있는 링)와, 한 프로세스 안에서 슬롯 크기 버퍼 8개로 하는
  `memcpy`입니다. 이들은 두 CPU를 쉬지 않고 쓰는데, 블록하는 메커니즘은 그러지
  않습니다. 바쁘게 기다리는 두 프로세스는 CPU 하나를 나눠 쓸 수 없으므로
  split에서만 잽니다. 하한이 하나 더 있어 시스템 콜의 값을 잽니다.
  `latency/syscall`은 가장 싼 커널 호출인 `getppid()` 한 번을 한 프로세스에서
  잽니다(이번 실행에서 {syscall_toll(r)}).
* 바이너리 플래그: `{flags}`.
"""


def machine_section(results):
    m = results["machine"]
    context = results.get("benchmark_context", {})
    before = results["load_before"]
    after = results["load_after"]
    quiet = before[0] < results.get("max_load", 1.5)
    caches = ", ".join(
        f"L{c['level']} {c['type'].lower()} {c['size'] // 1024} KiB"
        + (" (shared)" if c.get("num_sharing", 1) > 1 else "")
        for c in context.get("caches", []))
    build = context.get("library_build_type", "?")
    rows = [
        ("command / 명령", f"`{results['command']}`"),
        ("when / 언제", f"{results['started']}, {results['minutes']} min"),
        ("revision / 리비전", results["revision"]),
        ("CPU", f"{m['cpu']}, {m['cpus_online']} CPUs online, "
                f"{m['cpus_allowed']} allowed"),
        ("caches / 캐시", caches or "?"),
        ("memory / 메모리", m.get("memory") or "?"),
        ("virtualization / 가상화", m["virtualization"]),
        ("kernel / 커널", m["kernel"]),
        ("OS", m.get("os") or "?"),
        ("compiler / 컴파일러", f"{m['compiler']}, `bazel build -c opt`"),
        ("Google Benchmark", f"Debian's libbenchmark-dev (the library reports "
                             f"a {build} build; it only runs the loop and the "
                             f"clock, the measured code is ours, -O2)"),
        ("load average / 부하 평균",
         f"{before[0]:.2f} {before[1]:.2f} {before[2]:.2f} before, "
         f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f} after (1, 5, 15 min)"),
    ]
    lines = ['<a id="machine"></a>', "## The machine / 측정한 컴퓨터", "",
             "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines.append("")
    if quiet:
        lines += [
            f"The run started when the 1-minute load average was below "
            f"{results.get('max_load', 1.5)}, so little else competed for the "
            f"CPUs the processes were pinned to. The load after the run "
            f"counts the benchmark's own two processes, which keep about one "
            f"to two CPUs busy while it runs.",
            "",
            f"1분 부하 평균이 {results.get('max_load', 1.5)} 아래일 때 "
            f"시작했으므로, 프로세스를 고정한 CPU를 두고 다투는 다른 작업은 "
            f"거의 없었습니다. 실행 뒤의 부하에는 벤치마크 자신의 프로세스 둘이 "
            f"들어 있습니다. 돌아가는 동안 CPU 하나에서 둘을 바쁘게 씁니다.",
        ]
    else:
        lines += [
            f"**The machine was busy** (1-minute load average {before[0]:.2f} "
            f"at the start): other processes competed for the pinned CPUs, "
            f"so the absolute figures are slower and noisier than on a quiet "
            f"machine. The ratios from one run stay comparable.",
            "",
            f"**컴퓨터가 바빴습니다**(시작할 때 1분 부하 평균 {before[0]:.2f}). "
            f"다른 프로세스가 고정한 CPU를 두고 다퉜으므로, 절대 수치는 조용한 "
            f"컴퓨터보다 느리고 흔들립니다. 같은 실행 안의 비율은 여전히 비교할 "
            f"수 있습니다.",
        ]
    return "\n".join(lines) + "\n"


MEASUREMENT_NAMES = {
    "latency": ("round trip", "왕복"),
    "throughput": ("one-way stream", "단방향 스트림"),
}
PLACEMENT_NAMES = {p: (en, ko) for p, en, ko in PLACEMENTS}


def wrapper_cost_section(r):
    checked, above = [], []
    for measure in ("latency", "throughput"):
        for key, _, _ in MECHANISMS:
            for size in SIZES[measure]:
                for placement, _, _ in PLACEMENTS:
                    cost = r.cost(measure, key, size, placement)
                    if cost is None:
                        continue
                    checked.append(cost)
                    if cost > LIMIT:
                        above.append((measure, key, size, placement, cost,
                                      r.overlap(measure, key, size, placement)))
    lines = ['<a id="wrapper-cost"></a>',
             "## Wrapper cost: kata ÷ raw / 래퍼 비용: kata ÷ raw", ""]
    within = len(checked) - len(above)
    lines += [
        f"The goal: a reference solution costs at most {LIMIT:.2f} times "
        f"the raw system calls (medians), for every mechanism's latency and "
        f"throughput. In this run {within} of the {len(checked)} ratios meet "
        f"it. A ratio below 1 means the kata version was faster in this run; "
        f"it does not do less work, so that is noise, or a change in which "
        f"process sleeps when (the context switches below show it).",
        "",
        f"목표는 모든 메커니즘의 지연 시간과 처리량에서 참조 풀이가 raw 시스템 콜의 "
        f"{LIMIT:.2f}배 이하인 것입니다(중앙값 기준). 이번 실행에서는 "
        f"{len(checked)}개 비율 중 {within}개가 목표를 지켰습니다. 1보다 작은 "
        f"비율은 이번 실행에서 kata 버전이 더 빨랐다는 뜻입니다. 일을 덜 하는 것은 "
        f"아니므로, 잡음이거나 어느 프로세스가 언제 잠드는지가 바뀐 것입니다(아래의 "
        f"컨텍스트 스위치 횟수가 보여 줍니다).",
        ""]
    if not above:
        return "\n".join(lines) + "\n"
    lines += [
        "The ratios above the goal, with the context switches of both "
        "processes per round trip or message (median), which often say more "
        "than the system calls do: a switch means one process gave up its "
        "CPU, and the other had to be woken.",
        "",
        "목표를 넘은 비율과, 왕복이나 메시지 하나당 두 프로세스의 컨텍스트 "
        "스위치 횟수(중앙값)입니다. 컨텍스트 스위치는 시스템 콜보다 더 많은 것을 말해 줄 때가 "
        "많습니다. 한 번의 교환은 한 프로세스가 CPU를 내놓았고 다른 프로세스를 "
        "깨워야 했다는 뜻입니다.",
        "",
        "| mechanism / 메커니즘 | measurement / 측정 | size / 크기 | "
        "CPUs | kata ÷ raw | min..max ranges / 범위 | "
        "switches kata / raw / 컨텍스트 스위치 |",
        "|---|---|---:|---|---:|---|---:|"]
    for measure, key, size, placement, cost, overlap in above:
        en, ko = mechanism_names(key)
        m_en, m_ko = MEASUREMENT_NAMES[measure]
        p_en, p_ko = PLACEMENT_NAMES[placement]
        kata_sw = r.switches_of(measure, key, "kata", size, placement)
        raw_sw = r.switches_of(measure, key, "raw", size, placement)
        sw = (f"{kata_sw:.2f} / {raw_sw:.2f}"
              if kata_sw is not None and raw_sw is not None else "–")
        lines.append(
            f"| {en} / {ko} | {m_en} / {m_ko} | {size_label(size)} | "
            f"{p_en} / {p_ko} | {ratio_text(cost)} | "
            f"{'overlap: noise / 겹침: 잡음' if overlap else 'apart / 떨어짐'} "
            f"| {sw} |")
    lines.append("")
    noise = [a for a in above if a[5]]
    real = sorted({a[1] for a in above if not a[5]},
                  key=[k for k, _, _ in MECHANISMS].index)
    if noise:
        lines += [
            f"{len(noise)} of these gaps are within the run's noise: the "
            f"fastest and slowest repetitions of the two versions overlap, "
            f"so the medians' order could swap in the next run.",
            "",
            f"이 가운데 {len(noise)}개는 실행의 잡음 안에 있습니다. 두 버전의 가장 "
            f"빠른 반복과 가장 느린 반복이 겹치므로, 다음 실행에서는 중앙값의 "
            f"순서가 바뀔 수 있습니다.",
            ""]
    if real:
        lines += ["The gaps larger than the noise, and what causes them "
                  "(read in the reference solution):",
                  "",
                  "잡음보다 큰 차이와 그 원인(참조 풀이를 읽어 보면 보입니다):",
                  ""]
        english, korean = [], []
        for key in real:
            en, ko = mechanism_names(key)
            reason = REASONS[key]
            reason_en, reason_ko = reason(r) if callable(reason) else reason
            english.append(f"- **{en}**: {reason_en}")
            korean.append(f"* **{ko}**: {reason_ko}")
        lines += english + [""] + korean + [""]
    return "\n".join(lines) + "\n"


def shm_check_section(r):
    lines = ['<a id="shared-memory-at-64-kib"></a>',
             "## Shared memory at 64 KiB / 64 KiB에서의 공유 메모리", "",
             "The goal: the shared-memory ring at 64 KiB moves at least 3 times "
             "what a pipe does and at least 40 % of `memcpy`'s bandwidth, in "
             "the same run. The shared-memory figure is the ring of 64 KiB "
             "slots built from the kata's parts (kata version); the kata's own "
             "RingBuffer, with 64-byte slots, is far below both and is "
             "discussed [below](#q5). The `memcpy` floor copies the same "
             "working set (8 slots of 64 KiB, 512 KiB), which stays in one "
             "CPU's cache; the table also shows a copy streaming through "
             "main memory, which is what the 40 % goal would mean against "
             "an uncached copy.",
             "",
             "목표는 64 KiB에서 공유 메모리 링이 파이프의 3배 이상, `memcpy` "
             "대역폭의 40 % 이상을 같은 실행에서 옮기는 것입니다. 공유 메모리 "
             "수치는 카타의 부품으로 만든 64 KiB 슬롯 링(kata 버전)입니다. 슬롯이 "
             "64바이트인 카타 자체의 RingBuffer는 두 기준 모두에 한참 못 미치며, "
             "[아래](#q5)에서 다룹니다. `memcpy` 하한은 같은 작업 집합(64 KiB "
             "슬롯 8개, 512 KiB)을 복사하므로 CPU 하나의 캐시 안에 머뭅니다. 표에는 "
             "주 메모리를 훑는 복사도 함께 적었습니다. 캐시에 없는 복사를 기준으로 "
             "하면 40 % 목표가 어떤 뜻이 되는지 보여 줍니다.",
             "",
             "| CPUs | shared memory / 공유 메모리 | pipe / 파이프 | ÷ pipe (≥ 3) "
             "| memcpy | ÷ memcpy (≥ 40 %) | busy-wait ring / 바쁜 대기 링 "
             "| memcpy, DRAM | ÷ memcpy, DRAM |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    verdicts = []
    for placement, p_en, p_ko in PLACEMENTS:
        shm = r.get("throughput", "shm", "kata", 65536, placement)
        pipe = r.get("throughput", "pipe", "kata", 65536, placement)
        copy = r.floor("throughput", "memcpy", 65536, placement)
        spin = r.floor("throughput", "spin-ring", 65536, placement)
        dram = r.floor("throughput", "memcpy-dram", 65536, placement)
        if not (shm and pipe and copy):
            continue
        by_pipe = shm.median / pipe.median
        by_copy = shm.median / copy.median
        lines.append(
            f"| {p_en} / {p_ko} | {fmt(shm.median)} GB/s | "
            f"{fmt(pipe.median)} GB/s | {mark(by_pipe >= 3)} "
            f"{fmt(by_pipe, 2)}× | {fmt(copy.median)} GB/s | "
            f"{mark(by_copy >= 0.4)} {100 * by_copy:.0f} % | "
            f"{fmt(spin.median) + ' GB/s' if spin else '–'} | "
            f"{fmt(dram.median) + ' GB/s' if dram else '–'} | "
            f"{percent(shm.median, dram.median) if dram else '–'} |")
        verdicts.append((placement, p_en, p_ko, shm, pipe, copy, spin,
                         by_pipe, by_copy))
    lines.append("")
    english, korean = [], []
    for placement, p_en, p_ko, shm, pipe, copy, spin, by_pipe, by_copy in \
            verdicts:
        if by_copy >= 0.4 and by_pipe >= 3:
            english.append(f"- **{p_en}**: both goals met.")
            korean.append(f"* **{p_ko}**: 두 목표를 모두 지켰습니다.")
            continue
        en, ko = [], []
        if by_pipe < 3:
            en.append(f"the ring moves {fmt(by_pipe, 2)}× a pipe, not 3×")
            ko.append(f"링이 파이프의 3배가 아니라 {fmt(by_pipe, 2)}배를 옮깁니다")
        if by_copy < 0.4:
            en.append(f"it reaches {100 * by_copy:.0f} % of `memcpy`, not "
                      f"40 %")
            ko.append(f"`memcpy`의 40 %가 아니라 {100 * by_copy:.0f} %에 "
                      f"이릅니다")
        if placement == "split" and spin:
            share = shm.median / spin.median
            en.append(
                f"the busy-wait ring next to it measures why: the same 8 "
                f"slots and the same two copies, with no semaphore and no "
                f"process ever asleep, reach {fmt(spin.median)} GB/s, "
                f"{100 * spin.median / copy.median:.0f} % of `memcpy`, and the "
                f"semaphore ring gets {100 * share:.0f} % of that. " +
                ("So the semaphores are not what holds it back: what "
                 "limits both rings is moving every byte from the sending "
                 "CPU's cache to the receiving CPU's and copying it twice "
                 "(into the slot, out of it), while `memcpy` in one process "
                 "copies within one cache"
                 if share >= 0.9 else
                 "Two limits add up: moving every byte from the sending CPU's "
                 "cache to the receiving CPU's and copying it twice (the "
                 "busy-wait ring's gap to `memcpy`), and the sleeping and "
                 "waking of the semaphores (the semaphore ring's gap to the "
                 "busy-wait ring)"))
            ko.append(
                f"옆의 바쁜 대기 링이 이유를 잽니다. 같은 슬롯 8개와 같은 두 번의 "
                f"복사를 세마포어 없이, 잠드는 프로세스 없이 해도 "
                f"{fmt(spin.median)} GB/s, 즉 `memcpy`의 "
                f"{100 * spin.median / copy.median:.0f} %이고, 세마포어 링은 그 "
                f"{100 * share:.0f} %를 냅니다. " +
                ("그러니 발목을 잡는 것은 세마포어가 아닙니다. 두 링 모두를 막는 "
                 "것은 모든 바이트를 보내는 CPU의 캐시에서 받는 CPU의 캐시로 옮기고 "
                 "두 번(슬롯으로, 슬롯에서) 복사하는 일이고, 한 프로세스의 "
                 "`memcpy`는 캐시 하나 안에서 복사합니다"
                 if share >= 0.9 else
                 "두 한계가 더해집니다. 모든 바이트를 보내는 CPU의 캐시에서 받는 "
                 "CPU의 캐시로 옮기고 두 번 복사하는 일(바쁜 대기 링과 `memcpy`의 "
                 "차이)과, 세마포어로 잠들고 깨는 일(세마포어 링과 바쁜 대기 링의 "
                 "차이)입니다"))
        if placement == "same":
            en.append(
                "on one CPU the two copies (into the slot, out of it) run one "
                "after the other on the same core, so the ring cannot exceed "
                "half of `memcpy`, before any context switch is paid")
            ko.append(
                "CPU 하나에서는 두 번의 복사(슬롯으로, 슬롯에서)가 같은 코어에서 "
                "차례로 일어나므로, 컨텍스트 스위치 비용을 치르기 전부터 링은 `memcpy`의 "
                "절반을 넘을 수 없습니다")
        english.append(f"- **{p_en}**: " + "; ".join(en) + ".")
        korean.append(f"* **{p_ko}**: " + ". ".join(ko) + ".")
    lines += english + [""] + korean + [""]
    return "\n".join(lines) + "\n"


def mark(ok):
    return "✓" if ok else "✗"


# ------------------------------------------------ the textbook claims (Q&A)


class Figures:
    """Short names for the medians the questions quote."""

    def __init__(self, r):
        self.r = r

    def lat(self, key, size=8, placement="split", impl="kata"):
        stat = (self.r.floor("latency", key, size, placement)
                if impl == "floor" else
                self.r.get("latency", key, impl, size, placement))
        return stat.median if stat else float("nan")

    def thr(self, key, size=65536, placement="split", impl="kata"):
        stat = (self.r.floor("throughput", key, size, placement)
                if impl == "floor" else
                self.r.get("throughput", key, impl, size, placement))
        return stat.median if stat else float("nan")


def close(a, b, band=1.25):
    """Whether a and b are within a factor `band` of each other."""
    return max(a, b) / min(a, b) <= band


def us(value):
    return f"{fmt(value)} µs"


def syscall_toll(r):
    """The no-op system call's median, or a word if it was not measured."""
    stat = r.get("latency", "syscall", "floor", 0, "one")
    return us(stat.median) if stat else "(not measured)"


def gbs(value):
    return f"{fmt(value)} GB/s"


def question(number, anchor, title_en, title_ko, short, deep, followups,
             misconceptions, proof):
    """A question in the notes' convention (docs/README.md, "How these notes
    are written"). Each section is a pair (English lines, Korean lines)."""
    lines = [f'<a id="{anchor}"></a>', f"### Q{number}. {title_en} / {title_ko}",
             "", "**30-second answer / 30초 답변**", "", short[0], "", short[1],
             "", "**Deeper / 더 깊이**", ""]
    lines += [f"- {item}" for item in deep[0]] + [""]
    lines += [f"* {item}" for item in deep[1]] + [""]
    lines += ["**Follow-ups / 꼬리 질문**", ""]
    for (q_en, q_ko), (a_en, a_ko) in followups:
        lines += [f"- *{q_en} / {q_ko}* {a_en}", f"  {a_ko}"]
    lines += ["", "**Misconceptions / 흔한 오해**", ""]
    for wrong_en, right_en, wrong_ko, right_ko in misconceptions:
        lines += [f'- ✗ "{wrong_en}" ✓ {right_en}',
                  f'- ✗ "{wrong_ko}" ✓ {right_ko}']
    lines += ["", "**Proof / 증거**", ""]
    lines += [f"- {item}" for item in proof] + ["", "---", ""]
    return "\n".join(lines)


def claims_section(r):
    f = Figures(r)
    blocking = ["pipe", "sysv-queue", "posix-queue", "shm", "unix-socket",
                "tcp"]
    passing = ["pipe", "sysv-queue", "posix-queue", "unix-socket", "tcp"]
    out = ['<a id="textbook-claims"></a>',
           "## What the figures say about the textbook claims / "
           "교과서 주장에 대해 수치가 말하는 것", "",
           "Each answer quotes this run's medians (kata versions unless said "
           "otherwise); rerun `tools/bench` and the numbers and the words that "
           "depend on them are written again. Two CPUs means split, one CPU "
           "means same.",
           "",
           "각 답은 이번 실행의 중앙값을 인용합니다(따로 말하지 않으면 kata 버전). "
           "`tools/bench`를 다시 돌리면 수치와 그 수치에 달린 표현이 다시 "
           "쓰입니다. CPU 둘은 split, CPU 하나는 same입니다.", "", "---", ""]

    # Q1: shared memory vs message passing --------------------------------
    shm_big = f.thr("shm")
    best_key = max(passing, key=lambda k: f.thr(k))
    best_en, best_ko = mechanism_names(best_key)
    pipe_big = f.thr("pipe")
    shm8, pipe8 = f.lat("shm"), f.lat("pipe")
    shm8s, pipe8s = f.lat("shm", placement="same"), f.lat("pipe",
                                                         placement="same")
    spin8 = f.lat("spin", impl="floor")
    small_close = close(shm8, pipe8) and close(shm8s, pipe8s)
    if small_close:
        small_lead_en, small_lead_ko = "no", "아닙니다"
    elif shm8 < pipe8 and shm8s < pipe8s:
        small_lead_en = "the advantage mostly disappears"
        small_lead_ko = "이점이 거의 사라집니다"
    else:
        small_lead_en = "it was not even faster here"
        small_lead_ko = "여기서는 더 빠르지도 않았습니다"
    if small_close:
        small_en = (f"about what a pipe costs: {us(shm8)} against {us(pipe8)} "
                    f"across two CPUs, {us(shm8s)} against {us(pipe8s)} on "
                    f"one")
        small_ko = (f"파이프와 거의 같습니다. CPU 둘에서 {us(shm8)} 대 "
                    f"{us(pipe8)}, CPU 하나에서 {us(shm8s)} 대 {us(pipe8s)}입니다")
    else:
        small_en = (f"{us(shm8)} against {us(pipe8)} for a pipe across two "
                    f"CPUs ({quotient(shm8, pipe8, 'shm', 'pipe')}), "
                    f"{us(shm8s)} against {us(pipe8s)} on one CPU "
                    f"({quotient(shm8s, pipe8s, 'shm', 'pipe')}): the same "
                    f"order of magnitude, far from what the large messages "
                    f"show")
        small_ko = (f"CPU 둘에서 {us(shm8)} 대 파이프 {us(pipe8)}"
                    f"({quotient(shm8, pipe8, 'shm', 'pipe')}), CPU 하나에서 "
                    f"{us(shm8s)} 대 {us(pipe8s)}"
                    f"({quotient(shm8s, pipe8s, 'shm', 'pipe')})입니다. 큰 "
                    f"메시지에서 본 차이와는 거리가 먼, 같은 자릿수입니다")
    out.append(question(
        1, "q1", "Is shared memory faster than message passing?",
        "공유 메모리는 메시지 전달보다 빠릅니까?",
        (f"For large messages, {'yes' if shm_big > f.thr(best_key) else 'not in this run'}: "
         f"at 64 KiB across two CPUs shared memory with semaphores moved "
         f"{gbs(shm_big)}, {times(shm_big, f.thr(best_key))} the fastest "
         f"message passing here ({best_en}) and {times(shm_big, pipe_big)} a "
         f"pipe. For small messages {small_lead_en}: an 8-byte round trip "
         f"costs {us(shm8)} against {us(pipe8)} for a pipe. A small message "
         f"costs the wake-up of the process that waits for it, and a "
         f"semaphore wakes it through the kernel just as a pipe does.",
         f"큰 메시지라면 "
         f"{'그렇습니다' if shm_big > f.thr(best_key) else '이번 실행에서는 아닙니다'}. "
         f"CPU 둘에서 64 KiB일 때 세마포어를 쓴 공유 메모리는 {gbs(shm_big)}를 "
         f"옮겨, 가장 빠른 메시지 전달({best_ko})의 "
         f"{bae(shm_big, f.thr(best_key))}, 파이프의 {bae(shm_big, pipe_big)}"
         f"였습니다. 작은 메시지라면 {small_lead_ko}. 8바이트 왕복이 {us(shm8)} "
         f"대 파이프 {us(pipe8)}입니다. 작은 메시지의 비용은 기다리는 프로세스를 "
         f"깨우는 일이고, 세마포어도 파이프처럼 커널을 거쳐 깨웁니다."),
        ([f"The small-message figures in full: an 8-byte round trip through "
          f"shared memory costs {small_en}.",
          f"Message passing copies every byte twice through the kernel "
          f"(sender to kernel buffer, kernel buffer to receiver) and makes a "
          f"system call on each side per message; the shared-memory stream "
          f"copies into a slot and out of it with plain loads and stores, "
          f"and enters the kernel only when one side has to sleep.",
          f"Waking a sleeping process is the expensive part, and both models "
          f"pay it: `sem_post` finds a waiter and calls `futex(FUTEX_WAKE)`, "
          f"a pipe's `write` wakes the reader sleeping in `read`. Either way "
          f"the scheduler has to run the woken process.",
          f"Take the sleeping away and the cost collapses: two processes "
          f"busy-waiting on one shared cache line do the 8-byte round trip "
          f"in {us(spin8)}, 1/{fmt(shm8 / spin8, 2)} of the semaphores' time, "
          f"but each keeps a CPU fully busy while it waits.",
          f"Shared memory won the large transfers only because the slots "
          f"are as large as the messages: the kata's own "
          f"RingBuffer, with 64-byte slots, is slower than every other "
          f"mechanism at 64 KiB ([Q5](#q5))."],
         [f"작은 메시지의 수치를 모두 적으면, 공유 메모리로 8바이트를 왕복하는 "
          f"비용은 {small_ko}.",
          f"메시지 전달은 모든 바이트를 커널을 거쳐 두 번 복사하고(송신자에게서 "
          f"커널 버퍼로, 커널 버퍼에서 수신자에게로), 메시지마다 양쪽에서 시스템 "
          f"콜을 합니다. 공유 메모리 스트림은 평범한 읽기·쓰기로 슬롯에 넣고 "
          f"꺼내며, 한쪽이 잠들어야 할 때만 커널에 들어갑니다.",
          f"비싼 것은 잠든 프로세스를 깨우는 일이고, 두 모델 모두 그 값을 "
          f"치릅니다. `sem_post`는 기다리는 프로세스를 발견하면 "
          f"`futex(FUTEX_WAKE)`를 부르고, 파이프의 `write`는 `read`에서 잠든 "
          f"읽는 쪽을 깨웁니다. 어느 쪽이든 스케줄러가 깨어난 프로세스를 "
          f"실행해야 합니다.",
          f"잠들기를 없애면 비용이 무너집니다. 공유 캐시 라인 하나에서 바쁘게 "
          f"기다리는 두 프로세스는 8바이트 왕복을 {us(spin8)}에 끝내어 "
          f"세마포어의 1/{fmt(shm8 / spin8, 2)}만 들지만, 기다리는 동안 각자 "
          f"CPU 하나를 통째로 씁니다.",
          f"큰 전송에서 공유 메모리가 빨랐던 것도 슬롯이 메시지만큼 크기 "
          f"때문입니다. 슬롯이 64바이트인 카타 자체의 RingBuffer는 64 KiB에서 "
          f"다른 모든 메커니즘보다 느립니다([Q5](#q5))."]),
        [(("Then why not always use shared memory?",
           "그럼 왜 항상 공유 메모리를 쓰지 않습니까?"),
          ("For small messages it buys little (the wake-up dominates), and it "
           "hands you the synchronisation, the layout and the cleanup after "
           "a peer dies that the kernel did for you.",
           "작은 메시지에서는 얻는 것이 적고(깨우는 비용이 지배합니다), 커널이 "
           "해 주던 동기화, 배치, 상대가 죽은 뒤의 정리를 떠안게 됩니다.")),
         (("How would you make small messages fast?",
           "작은 메시지는 어떻게 빠르게 만듭니까?"),
          (f"Do not sleep: spin for a while before blocking (what adaptive "
           f"mutexes do), or dedicate CPUs to busy-waiting, as low-latency "
           f"systems do; here that is the {us(spin8)} floor.",
           f"잠들지 않으면 됩니다. 블록하기 전에 잠시 스핀하거나(적응형 뮤텍스가 "
           f"하는 일), 지연에 민감한 시스템처럼 CPU를 바쁜 대기에 전담시킵니다. "
           f"여기서는 그것이 {us(spin8)} 하한입니다."))],
        [("Shared memory is always faster.",
          "it is faster for large data; for small messages both models pay "
          "for a wake-up through the kernel, and their costs come within the "
          "same order of magnitude.",
          "공유 메모리는 언제나 더 빠르다.",
          "큰 데이터에서 빠릅니다. 작은 메시지에서는 두 모델 모두 커널을 거쳐 "
          "깨우는 값을 치르고, 비용이 같은 자릿수로 모입니다.")],
        ["The `latency/shm`, `latency/pipe`, `throughput/shm` and "
         "`throughput/pipe` rows above, measured by "
         "[bench/shared_memory_bench.cc](../bench/shared_memory_bench.cc) "
         "(`KataShmRoundTrip`, `KataShmStream`) and "
         "[bench/pipe_bench.cc](../bench/pipe_bench.cc).",
         "[The floors](../bench/floors_bench.cc): `latency/spin`, "
         "`throughput/spin-ring`, `throughput/memcpy`."]))

    # Q2: Unix socket vs TCP loopback -------------------------------------
    tcp8, unix8 = f.lat("tcp"), f.lat("unix-socket")
    tcp8s, unix8s = (f.lat("tcp", placement="same"),
                     f.lat("unix-socket", placement="same"))
    tcp_big, unix_big = f.thr("tcp"), f.thr("unix-socket")
    tcp_bigs, unix_bigs = (f.thr("tcp", placement="same"),
                           f.thr("unix-socket", placement="same"))
    if tcp8s > unix8s and unix_big > tcp_big:
        tcp_verdict_en = ("TCP costs more in both: the same bytes go through "
                          "a whole protocol stack.")
        tcp_verdict_ko = ("둘 다 TCP가 더 듭니다. 같은 바이트가 프로토콜 스택 "
                          "전체를 지나기 때문입니다.")
    else:
        tcp_verdict_en = ("Here TCP was not slower everywhere, which its "
                          "work does not predict: check the ranges.")
        tcp_verdict_ko = ("이번에는 TCP가 늘 느리지는 않았는데, 하는 일로는 "
                          "설명되지 않습니다. 범위를 확인하세요.")
    out.append(question(
        2, "q2", "Unix-domain socket or TCP over loopback: what does TCP cost?",
        "유닉스 도메인 소켓과 루프백 TCP: TCP의 비용은 얼마입니까?",
        (f"Measured through the same code (the sockets kata serves both), an "
         f"8-byte round trip took {us(tcp8)} over TCP and {us(unix8)} over a "
         f"Unix socket across two CPUs, {us(tcp8s)} and {us(unix8s)} on one "
         f"CPU ({quotient(tcp8s, unix8s, 'TCP', 'Unix')}); at 64 KiB across "
         f"two CPUs a Unix socket moved {gbs(unix_big)} and TCP "
         f"{gbs(tcp_big)}. {tcp_verdict_en}",
         f"같은 코드(소켓 카타가 둘 다 처리합니다)로 재면, 8바이트 왕복은 CPU "
         f"둘에서 TCP {us(tcp8)}, 유닉스 소켓 {us(unix8)}, CPU 하나에서 "
         f"{us(tcp8s)}와 {us(unix8s)}({quotient(tcp8s, unix8s, 'TCP', 'Unix')})"
         f"였습니다. 64 KiB는 CPU 둘에서 유닉스 소켓이 {gbs(unix_big)}, TCP가 "
         f"{gbs(tcp_big)}를 옮겼습니다. {tcp_verdict_ko}"),
        ([f"On one CPU, 64 KiB moved at {gbs(unix_bigs)} over a Unix socket "
          f"and {gbs(tcp_bigs)} over TCP.",
          "A Unix socket puts the bytes straight into the peer socket's "
          "receive queue. Loopback TCP still builds segments with headers, "
          "passes them through the IP layer and the loopback device, "
          "acknowledges them and runs its flow and congestion control, all "
          "in the kernel, for every message.",
          f"On one CPU no cross-CPU wake-up hides that per-message work, so "
          f"the protocol's share is easiest to see there "
          f"({quotient(tcp8s, unix8s, 'TCP', 'Unix')}); across two CPUs the "
          f"wake-up is a large part of both round trips "
          f"({quotient(tcp8, unix8, 'TCP', 'Unix')}).",
          "`TCP_NODELAY` is on in both versions: without it, Nagle's "
          "algorithm would hold a small frame back while an earlier one is "
          "unacknowledged, and the round trips would measure the delayed-ACK "
          "timer instead."],
         [f"CPU 하나에서 64 KiB는 유닉스 소켓이 {gbs(unix_bigs)}, TCP가 "
          f"{gbs(tcp_bigs)}를 옮겼습니다.",
          "유닉스 소켓은 바이트를 상대 소켓의 수신 큐에 바로 넣습니다. 루프백 "
          "TCP는 메시지마다 여전히 헤더가 붙은 세그먼트를 만들고, IP 계층과 루프백 "
          "장치를 거쳐 보내고, ACK를 보내고, 흐름 제어와 혼잡 제어를 돌립니다. "
          "모두 커널 안의 일입니다.",
          f"CPU 하나에서는 CPU 사이 깨우기가 이 메시지당 작업을 가리지 않으므로 "
          f"프로토콜의 몫이 가장 잘 보입니다({quotient(tcp8s, unix8s, 'TCP', 'Unix')}). "
          f"CPU 둘에서는 깨우는 비용이 두 왕복 모두에서 큰 몫을 차지합니다"
          f"({quotient(tcp8, unix8, 'TCP', 'Unix')}).",
          "두 버전 모두 `TCP_NODELAY`를 켰습니다. 끄면 Nagle 알고리즘이 앞선 "
          "프레임의 ACK를 기다리며 작은 프레임을 붙잡아 두어, 왕복 시간이 지연 "
          "ACK 타이머를 재게 됩니다."]),
        [(("Then why use TCP between two local processes?",
           "그럼 왜 로컬 프로세스 사이에 TCP를 씁니까?"),
          ("When the peer may move to another machine, or a tool only speaks "
           "TCP; the same code then works for both, as in the sockets kata.",
           "상대가 다른 컴퓨터로 옮겨 갈 수 있거나 도구가 TCP만 알 때입니다. "
           "그러면 소켓 카타처럼 같은 코드가 둘 다에 쓰입니다.")),
         (("Does loopback TCP touch the network card?",
           "루프백 TCP는 네트워크 카드를 거칩니까?"),
          ("No: the loopback device is software; the cost is the protocol "
           "stack, not a wire.",
           "아닙니다. 루프백 장치는 소프트웨어입니다. 비용은 선이 아니라 프로토콜 "
           "스택에서 나옵니다."))],
        [("Loopback TCP is as fast as a Unix socket because no network is "
          "involved.",
          "it runs the whole TCP/IP stack; only the wire is missing.",
          "네트워크를 안 거치니 루프백 TCP는 유닉스 소켓만큼 빠르다.",
          "TCP/IP 스택 전체를 그대로 거칩니다. 빠진 것은 선뿐입니다.")],
        ["`latency/unix-socket`, `latency/tcp`, `throughput/unix-socket`, "
         "`throughput/tcp` in [bench/sockets_bench.cc]"
         "(../bench/sockets_bench.cc)."]))

    # Q3: where the processes run -----------------------------------------
    split8 = {k: f.lat(k) for k in blocking}
    same8 = {k: f.lat(k, placement="same") for k in blocking}
    low_key = min(split8, key=split8.get)
    high_key = max(split8, key=split8.get)
    pipe_ratio = split8["pipe"] / same8["pipe"]
    placement_wins = pipe_ratio > split8[high_key] / split8[low_key]
    pipe_thr_split, pipe_thr_same = f.thr("pipe"), f.thr("pipe",
                                                         placement="same")
    out.append(question(
        3, "q3", "Why does the same round trip cost more when the processes "
        "run on different CPUs?",
        "프로세스가 서로 다른 CPU에서 돌면 같은 왕복이 왜 더 듭니까?",
        (f"Because each hand-off must wake a process on another CPU. The "
         f"8-byte pipe round trip took {us(split8['pipe'])} across two CPUs "
         f"and {us(same8['pipe'])} on one ({fmt(pipe_ratio, 2)}×). On one CPU "
         f"the writer's `write` makes the reader runnable and the scheduler "
         f"switches to it; across CPUs the other CPU, idle and halted, must "
         f"first be woken by an interrupt"
         + (", so the placement moves the cost more than the choice of "
            "mechanism." if placement_wins else "."),
         f"건네줄 때마다 다른 CPU의 프로세스를 깨워야 하기 때문입니다. 8바이트 "
         f"파이프 왕복은 CPU 둘에서 {us(split8['pipe'])}, 하나에서 "
         f"{us(same8['pipe'])}였습니다({fmt(pipe_ratio, 2)}배). CPU 하나에서는 "
         f"쓰는 쪽의 `write`가 읽는 쪽을 실행 가능하게 만들고 스케줄러가 그리로 "
         f"전환하지만, CPU가 다르면 쉬며 멈춰 있던 CPU를 먼저 인터럽트로 깨워야 "
         f"합니다"
         + (". 그래서 메커니즘보다 어디서 도는지가 비용을 더 바꿉니다."
            if placement_wins else ".")),
        ([f"Across two CPUs every blocking mechanism's 8-byte round trip lies "
          f"between {us(split8[low_key])} and {us(split8[high_key])}"
          + (": the placement moves the cost more than the choice of "
             "mechanism." if placement_wins else
             ", a spread as large as the placement's effect."),
          f"On one CPU the mechanisms spread out by their own work: "
          + ", ".join(f"{mechanism_names(k)[0]} {us(same8[k])}"
                      for k in blocking) + ".",
          (f"Bulk data shows it too: a 64 KiB pipe stream moved "
           f"{gbs(pipe_thr_split)} across two CPUs and {gbs(pipe_thr_same)} "
           f"on one. A 64 KiB message fills the pipe's default 64 KiB "
           f"buffer, so across CPUs the writer waits for the reader, and the "
           f"reader for the writer, on nearly every message, each wait ending "
           f"in a cross-CPU wake-up; on one CPU a switch costs much less."
           if pipe_thr_same > pipe_thr_split else
           f"Bulk data can go the other way: a 64 KiB pipe stream moved "
           f"{gbs(pipe_thr_split)} across two CPUs and {gbs(pipe_thr_same)} "
           f"on one, where the writer and the reader cannot run at the same "
           f"time."),
          "On a virtual machine, waking an idle virtual CPU goes through the "
          "hypervisor, which makes the cross-CPU wake-up slower still than "
          "on bare metal. The figures here come from the machine described "
          "above; compare the ratios, not the absolute numbers."],
         [f"CPU 둘에서 블록하는 모든 메커니즘의 8바이트 왕복은 "
          f"{us(split8[low_key])}에서 {us(split8[high_key])} 사이입니다. "
          + ("메커니즘을 고르는 것보다 어디서 도는지가 비용을 더 크게 바꿉니다."
             if placement_wins else
             "이 폭은 어디서 도는지에 따른 차이만큼 큽니다."),
          f"CPU 하나에서는 메커니즘이 자기 작업량대로 벌어집니다. "
          + ", ".join(f"{mechanism_names(k)[1]} {us(same8[k])}"
                      for k in blocking) + ".",
          (f"대량 데이터에서도 보입니다. 64 KiB 파이프 스트림은 CPU 둘에서 "
           f"{gbs(pipe_thr_split)}, 하나에서 {gbs(pipe_thr_same)}를 옮겼습니다. "
           f"64 KiB 메시지는 파이프의 기본 64 KiB 버퍼를 가득 채우므로, CPU가 "
           f"다르면 거의 모든 메시지에서 쓰는 쪽은 읽는 쪽을, 읽는 쪽은 쓰는 쪽을 "
           f"기다리고, 그 기다림은 매번 CPU 사이 깨우기로 끝납니다. CPU 하나에서는 "
           f"전환이 훨씬 쌉니다."
           if pipe_thr_same > pipe_thr_split else
           f"대량 데이터는 반대로 갈 수 있습니다. 64 KiB 파이프 스트림은 CPU "
           f"둘에서 {gbs(pipe_thr_split)}, 쓰는 쪽과 읽는 쪽이 동시에 돌 수 없는 "
           f"CPU 하나에서 {gbs(pipe_thr_same)}를 옮겼습니다."),
          "가상 머신에서는 쉬고 있는 가상 CPU를 깨우는 일이 하이퍼바이저를 "
          "거치므로, CPU 사이 깨우기가 실제 하드웨어보다도 더 느립니다. 이 수치는 "
          "위에 적은 컴퓨터에서 나온 것이니, 절대값이 아니라 비율을 "
          "비교하세요."]),
        [(("Should I pin communicating processes to one CPU?",
           "통신하는 프로세스를 CPU 하나에 고정해야 합니까?"),
          ("For a ping-pong of small messages it wins, as here; for work "
           "that needs both CPUs at once it loses the parallelism. Measure "
           "both, as this suite does.",
           "작은 메시지를 주고받는 핑퐁이라면 여기서처럼 이깁니다. 두 CPU가 동시에 "
           "필요한 작업이라면 병렬성을 잃습니다. 이 모음처럼 둘 다 재 보세요.")),
         (("What does the scheduler do when the processes are not pinned?",
           "고정하지 않으면 스케줄러는 어떻게 합니까?"),
          ("It usually wakes the peer where it last ran, so the two often "
           "end up on different CPUs; the suite pins them so that each "
           "figure says which case it is.",
           "보통 상대를 마지막으로 돌던 CPU에서 깨우므로 둘은 자주 서로 다른 CPU에 "
           "놓입니다. 이 모음은 수치마다 어느 경우인지 분명하도록 고정합니다."))],
        [("The fastest IPC mechanism decides the latency.",
          "for small messages where the processes run decides more than which "
          "blocking mechanism carries the bytes.",
          "가장 빠른 IPC 메커니즘이 지연 시간을 정한다.",
          "작은 메시지에서는 어떤 블록 메커니즘이 바이트를 나르는지보다 프로세스가 "
          "어디서 도는지가 더 많이 정합니다.")],
        ["Every `latency/*/split` against `latency/*/same` row above; the "
         "pinning is in [bench/harness.cc](../bench/harness.cc) "
         "(`PinThisThread`, `Peer::Start`)."]))

    # Q4: message queues vs pipes ------------------------------------------
    sysv8, posix8 = f.lat("sysv-queue"), f.lat("posix-queue")
    sysv8s, posix8s = (f.lat("sysv-queue", placement="same"),
                       f.lat("posix-queue", placement="same"))
    sysv_big, posix_big = f.thr("sysv-queue"), f.thr("posix-queue")
    queues_close = close(sysv8, pipe8) and close(posix8, pipe8)
    if posix_big > pipe_big > sysv_big:
        bulk_en = ("The pipe sits between the two: a single 64 KiB message "
                   "fills its default 64 KiB buffer, so writer and reader "
                   "wait for each other on every message, while the POSIX "
                   "queue's ten messages let both sides run at once, and the "
                   "System V queue's two barely do.")
        bulk_ko = ("파이프는 둘 사이에 있습니다. 64 KiB 메시지 하나가 파이프의 기본 "
                   "64 KiB 버퍼를 채우므로 메시지마다 쓰는 쪽과 읽는 쪽이 서로를 "
                   "기다리지만, POSIX 큐는 메시지 열 개를 담아 양쪽이 함께 돌 수 있고, "
                   "두 개만 담는 System V 큐는 거의 그러지 못합니다.")
    elif max(posix_big, sysv_big) < pipe_big:
        bulk_en = "Both queues fall behind the pipe."
        bulk_ko = "두 큐 모두 파이프에 뒤집니다."
    else:
        bulk_en = ("Here the queues kept up with the pipe, whose single 64 KiB "
                   "message fills its whole default buffer.")
        bulk_ko = ("여기서는 큐가 파이프에 뒤지지 않았습니다. 파이프는 64 KiB 메시지 "
                   "하나가 기본 버퍼를 통째로 채웁니다.")
    out.append(question(
        4, "q4", "Are message queues slower than pipes?",
        "메시지 큐는 파이프보다 느립니까?",
        (f"Not for small messages: an 8-byte round trip took {us(sysv8)} "
         f"(System V) and {us(posix8)} (POSIX) against {us(pipe8)} for a pipe "
         f"across two CPUs{', about the same' if queues_close else ''}. "
         f"For bulk data the limits decide: a message holds "
         f"at most 8 KiB by default and a System V queue only 16 KiB, so "
         f"64 KiB moved at {gbs(sysv_big)} (System V) and {gbs(posix_big)} "
         f"(POSIX) against {gbs(pipe_big)} for a pipe.",
         f"작은 메시지라면 아닙니다. CPU 둘에서 8바이트 왕복은 System V "
         f"{us(sysv8)}, POSIX {us(posix8)}, 파이프 {us(pipe8)}였습니다"
         f"{'(거의 같습니다)' if queues_close else ''}. 대량 데이터는 한계가 "
         f"좌우합니다. 메시지 하나는 기본 8 KiB까지, System V 큐는 16 KiB까지만 "
         f"담아서, 64 KiB를 System V는 {gbs(sysv_big)}, POSIX는 "
         f"{gbs(posix_big)}, 파이프는 {gbs(pipe_big)}로 옮겼습니다."),
        (["Keeping message boundaries and types costs little next to the "
          "system call and the wake-up that every message pays anyway.",
          f"The rest of the figures: on one CPU the 8-byte round trips took "
          f"{us(sysv8s)}, {us(posix8s)} and {us(pipe8s)}; across two CPUs a "
          f"Unix socket moved 64 KiB at {gbs(unix_big)}. So 64 KiB travel as "
          f"eight messages, and a System V queue holds two of them where a "
          f"POSIX queue holds ten. {bulk_en}",
          "A queue copies each message into a kernel buffer on send and out "
          "of it on receive, exactly like a pipe; what it adds is a small "
          "header per message and the bookkeeping of types or priorities.",
          "The limits are system settings (`kernel.msgmax`, `kernel.msgmnb`, "
          "`fs.mqueue.msgsize_max`, `fs.mqueue.msg_max`); an administrator "
          "can raise them, an unprivileged program cannot, so the suite "
          "measures the defaults."],
         ["메시지 경계와 타입을 지키는 비용은 어차피 메시지마다 치르는 시스템 "
          "콜과 깨우기에 비하면 작습니다.",
          f"나머지 수치: CPU 하나에서 8바이트 왕복은 {us(sysv8s)}, "
          f"{us(posix8s)}, {us(pipe8s)}였고, CPU 둘에서 유닉스 소켓은 64 KiB를 "
          f"{gbs(unix_big)}로 옮겼습니다. 64 KiB는 메시지 여덟 개로 가고, System V "
          f"큐는 그중 두 개만, POSIX 큐는 열 개를 담습니다. {bulk_ko}",
          "큐는 파이프와 똑같이 보낼 때 메시지를 커널 버퍼로 복사하고 받을 때 "
          "꺼내 복사합니다. 더해지는 것은 메시지마다 붙는 작은 헤더와 타입이나 "
          "우선순위를 관리하는 일입니다.",
          "한계는 시스템 설정입니다(`kernel.msgmax`, `kernel.msgmnb`, "
          "`fs.mqueue.msgsize_max`, `fs.mqueue.msg_max`). 관리자는 올릴 수 "
          "있지만 권한 없는 프로그램은 못 올리므로, 이 모음은 기본값으로 "
          "잽니다."]),
        [(("When is a queue the better choice anyway?",
           "그래도 큐가 더 나은 선택인 때는 언제입니까?"),
          ("When messages must keep their boundaries, when several "
           "processes share one channel, or when a message must wait for a "
           "receiver that does not exist yet.",
           "메시지가 경계를 지켜야 할 때, 여러 프로세스가 통로 하나를 함께 쓸 때, "
           "아직 없는 수신자를 메시지가 기다려야 할 때입니다."))],
        [("Message queues are slow because the kernel keeps the messages.",
          "a pipe's bytes sit in the kernel too; for small messages the two "
          "cost about the same, and for large ones the queue's size limits "
          "(8 KiB per message, two messages in a System V queue) decide.",
          "커널이 메시지를 쥐고 있으므로 메시지 큐는 느리다.",
          "파이프의 바이트도 커널에 있습니다. 작은 메시지에서는 둘의 비용이 "
          "비슷하고, 큰 메시지에서는 큐의 크기 한계(메시지당 8 KiB, System V "
          "큐에는 메시지 두 개)가 결정합니다.")],
        ["`latency/sysv-queue`, `latency/posix-queue`, `throughput/*-queue` "
         "in [bench/sysv_queue_bench.cc](../bench/sysv_queue_bench.cc) and "
         "[bench/posix_queue_bench.cc](../bench/posix_queue_bench.cc)."]))

    # Q5: the kata's RingBuffer -------------------------------------------
    ring_big = f.thr("shm-ring-64B")
    ring_bigs = f.thr("shm-ring-64B", placement="same")
    shm_bigs = f.thr("shm", placement="same")
    ring8 = f.lat("shm-ring-64B")
    out.append(question(
        5, "q5", "Why is the kata's RingBuffer slow for 64 KiB messages?",
        "카타의 RingBuffer는 왜 64 KiB 메시지에서 느립니까?",
        (f"Because its slots hold 64 bytes: a 64 KiB message is 1024 slots, "
         f"and every slot is handed over separately: on each side a wait for "
         f"a slot, the mutex taken and given back, and a post. It moved "
         f"{gbs(ring_big)} across two CPUs, against {gbs(shm_big)} for the "
         f"same shared memory with 64 KiB slots ({times(shm_big, ring_big)} "
         f"as much), "
         f"and {gbs(ring_bigs)} against {gbs(shm_bigs)} on one CPU. The unit "
         f"of hand-off decides, not where the bytes live.",
         f"슬롯이 64바이트이기 때문입니다. 64 KiB 메시지는 슬롯 1024개이고, "
         f"슬롯마다 따로 건네집니다. 양쪽 모두 슬롯을 기다리고, 뮤텍스를 잡았다 "
         f"놓고, post합니다. CPU 둘에서 {gbs(ring_big)}를 옮겼는데, 같은 공유 "
         f"메모리에 64 KiB 슬롯을 쓰면 {gbs(shm_big)}입니다"
         f"({bae(shm_big, ring_big)}). CPU 하나에서는 {gbs(ring_bigs)} 대 "
         f"{gbs(shm_bigs)}입니다. 바이트가 어디 있느냐가 아니라 건네주는 단위가 "
         f"결정합니다."),
        ([f"With 8 slots of 64 bytes the producer can be at most 512 bytes "
          f"ahead, so across CPUs the two processes keep putting each other "
          f"to sleep and waking each other, and every wake-up is expensive: "
          f"one 8-byte message there and back through the same ring, two "
          f"wake-ups, takes {us(ring8)}.",
          "The kata's ring is built to teach the classic three-semaphore "
          "bounded buffer with several producers and consumers; the tests "
          "exercise exactly that. For bulk data one would size the slots to "
          "the messages (the \"shared memory + semaphores\" stream here), "
          "drop the mutex when there is one producer and one consumer, and "
          "hand over several slots per wake-up."],
         [f"64바이트 슬롯 8개라면 생산자는 많아야 512바이트 앞설 수 있으므로, CPU "
          f"둘에서는 두 프로세스가 서로를 계속 재우고 깨우는데, 깨우기는 비쌉니다. "
          f"같은 링으로 8바이트 메시지 하나를 주고받는 데, 즉 깨우기 두 번에 "
          f"{us(ring8)}가 듭니다.",
          "카타의 링은 생산자와 소비자가 여럿인 고전적인 세마포어 세 개짜리 유한 "
          "버퍼를 가르치려고 만든 것이고, 테스트도 바로 그것을 검사합니다. 대량 "
          "데이터라면 슬롯을 메시지 크기에 맞추고(여기의 \"공유 메모리 + 세마포어\" "
          "스트림), 생산자와 소비자가 하나씩이면 뮤텍스를 빼고, 한 번 깨울 때 "
          "슬롯 여러 개를 건넵니다."]),
        [(("Is the mutex needed with one producer and one consumer?",
           "생산자와 소비자가 하나씩이어도 뮤텍스가 필요합니까?"),
          ("No: each index is then written by one process only; the "
           "empty/full semaphores alone keep them apart. The kata keeps it "
           "because Stage 5 runs several producers and consumers.",
           "아닙니다. 그때는 각 인덱스를 한 프로세스만 씁니다. empty/full "
           "세마포어만으로 둘이 부딪히지 않습니다. 카타는 Stage 5에서 생산자와 "
           "소비자를 여럿 돌리므로 뮤텍스를 둡니다."))],
        [("Put data in shared memory and it is fast.",
          "only if each hand-off carries enough data to pay for its "
          "synchronisation.",
          "데이터를 공유 메모리에 두면 빠르다.",
          "건넬 때마다 동기화 비용을 치를 만큼 충분한 데이터를 실어야 "
          "빠릅니다.")],
        ["`throughput/shm-ring-64B` and `throughput/shm` in "
         "[bench/shared_memory_bench.cc](../bench/shared_memory_bench.cc); "
         "the ring is `RingBuffer` in "
         "[solutions/shared_memory/shared_memory.cc]"
         "(../solutions/shared_memory/shared_memory.cc)."]))
    return "\n".join(out)


# -------------------------------------------------------------- the page


def intro(results, r):
    return f"""# Benchmarks: what IPC costs, measured / 벤치마크: IPC의 비용을 재다

Every figure on this page comes from one command, `tools/bench`, run on the
machine described [below](#machine). It measures each mechanism twice in the
same run: through the reference solution's public API (**kata**) and through
the same system calls written inline (**raw**), so their ratio is what the
wrapper costs. It also measures the floors: what two processes can do with no
kernel in the data path. Rerun it on your own machine: the absolute numbers
will differ; the ratios and the shape of the results are what carry over.

이 페이지의 모든 수치는 명령 하나, `tools/bench`를 [아래](#machine)에 적은
컴퓨터에서 돌려 얻은 것입니다. 메커니즘마다 같은 실행 안에서 두 번 잽니다. 참조
풀이의 공개 API로 한 번(**kata**), 같은 시스템 콜을 직접 써서 한 번(**raw**)
재므로, 둘의 비율이 래퍼의 비용입니다. 하한도 잽니다. 데이터가 오가는 길에 커널이
없을 때 두 프로세스가 할 수 있는 만큼입니다. 자기 컴퓨터에서 다시 돌려 보세요.
절대 수치는 달라지지만, 비율과 결과의 모양은 그대로 옮겨 갑니다.

## Contents / 목차

1. [How to rerun / 다시 돌려 보는 법](#how-to-rerun)
2. [The machine / 측정한 컴퓨터](#machine)
3. [How it is measured / 측정 방법](#method)
4. [Round-trip latency / 왕복 지연 시간](#latency)
5. [One-way throughput / 단방향 처리량](#throughput)
6. [Wrapper cost: kata ÷ raw / 래퍼 비용](#wrapper-cost)
7. [Shared memory at 64 KiB / 64 KiB에서의 공유 메모리](#shared-memory-at-64-kib)
8. [What the figures say about the textbook claims / 교과서 주장에 대해 수치가 말하는 것](#textbook-claims)

<a id="how-to-rerun"></a>
## How to rerun / 다시 돌려 보는 법

```sh
tools/bench                  # wait for a quiet machine, measure (about {max(1, round(results.get('minutes', 0)))} min here), rewrite this page
tools/bench --report-only    # rewrite this page from bench/results.json
bazel run -c opt //bench:ipc_bench -- --benchmark_filter='latency/pipe'   # a few, by hand
bazel test //bench:bench_smoke_test   # every benchmark once (what CI runs)
```

`tools/bench` waits until the load average is below 1.5 (other work steals
the CPUs the processes are pinned to), builds with `-c opt`, runs the suite,
saves every repetition in [bench/results.json](../bench/results.json), and
writes this page, its charts (with gnuplot) and the latency column of
[the comparison table in the interview guide](README.md#q6). The
benchmarks live in [bench/](../bench/); nothing in them asserts a time.

`tools/bench`는 부하 평균이 1.5 아래로 내려갈 때까지 기다리고(다른 작업이
프로세스를 고정한 CPU를 빼앗기 때문입니다), `-c opt`로 빌드해 모음을 돌린 뒤,
모든 반복을 [bench/results.json](../bench/results.json)에 저장하고, 이 페이지와
차트(gnuplot), 그리고 [면접 안내의 비교 표](README.md#q6)의 지연 시간 열을
씁니다. 벤치마크는 [bench/](../bench/)에 있으며, 시간을 단정하는 검사는 하나도
없습니다.
"""


def latency_section(r):
    lines = ['<a id="latency"></a>',
             "## Round-trip latency / 왕복 지연 시간", "",
             "![Round-trip latency of each mechanism, reference solutions, "
             "log scale](benchmarks-latency.svg)", "",
             "Microseconds per round trip (send a message, receive as many "
             "bytes back): median of the repetitions, (fastest..slowest).",
             "",
             "왕복 한 번(메시지를 보내고 같은 바이트 수를 돌려받기)당 마이크로초입니다. "
             "반복들의 중앙값이고, 괄호 안은 (가장 빠른..가장 느린) 반복입니다.", ""]
    for placement, p_en, p_ko in PLACEMENTS:
        lines += [f"### Processes on {p_en} / 프로세스가 {p_ko}에서", ""]
        lines += table(r, "latency", placement) + [""]
    return "\n".join(lines) + "\n"


def throughput_section(r):
    lines = ['<a id="throughput"></a>',
             "## One-way throughput / 단방향 처리량", "",
             "![One-way throughput of each mechanism, reference solutions, "
             "log scale](benchmarks-throughput.svg)", "",
             "GB/s (10⁹ bytes per second) from one process to the other in "
             "messages of the given size: median of the repetitions, "
             "(slowest..fastest). The `memcpy` floors run in one process and "
             "are repeated in both tables.",
             "",
             "주어진 크기의 메시지로 한 프로세스에서 다른 프로세스로 옮긴 GB/s(초당 "
             "10⁹바이트)입니다. 반복들의 중앙값이고, 괄호 안은 (가장 느린..가장 빠른) "
             "반복입니다. `memcpy` 하한은 프로세스 하나에서 돌므로 두 표에 같이 "
             "적었습니다.", ""]
    for placement, p_en, p_ko in PLACEMENTS:
        lines += [f"### Processes on {p_en} / 프로세스가 {p_ko}에서", ""]
        lines += table(r, "throughput", placement) + [""]
    return "\n".join(lines) + "\n"


def page(results, r):
    return "\n".join([
        intro(results, r),
        machine_section(results),
        method_section(results, r),
        latency_section(r),
        throughput_section(r),
        wrapper_cost_section(r),
        shm_check_section(r),
        claims_section(r),
    ]).rstrip() + "\n"


# ------------------------------------------- docs/README.md's latency column

README_MARKER = "<!-- typical latency: written by tools/bench -->"
README_ROWS = {  # first cell of the row (English part) -> benchmark key
    "pipe": "pipe",
    "System V message queue": "sysv-queue",
    "POSIX message queue": "posix-queue",
    "Unix-domain socket": "unix-socket",
    "TCP socket": "tcp",
}


def readme_cell(r, key):
    split = r.get("latency", key, "kata", 8, "split")
    same = r.get("latency", key, "kata", 8, "same")
    if not split or not same:
        return "not measured / 측정 안 함"
    a, b = fmt(split.median, 2), fmt(same.median, 2)
    return (f"two CPUs {a} µs, one CPU {b} µs / CPU 둘 {a} µs, CPU 하나 "
            f"{b} µs")


def update_readme(r, path):
    """Rewrites the last cell of the measured rows of the table that follows
    README_MARKER; returns whether the file changed."""
    with open(path) as f:
        lines = f.read().split("\n")
    if README_MARKER not in lines:
        raise SystemExit(f"bench: {path} lacks the line {README_MARKER}")
    start = lines.index(README_MARKER) + 1
    while start < len(lines) and not lines[start].startswith("|"):
        start += 1
    changed = False
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.startswith("|"):
            break
        cells = line.split("|")
        first = cells[1].strip().split(" / ")[0]
        if first in README_ROWS:
            cells[-2] = f" {readme_cell(r, README_ROWS[first])} "
            new = "|".join(cells)
            changed = changed or new != line
            lines[i] = new
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return changed


def write(results, root):
    """Writes the page, its charts and the README column; returns the paths
    written."""
    r = Results(results)
    docs = os.path.join(root, "docs")
    paths = []
    for measure in ("latency", "throughput"):
        path = os.path.join(docs, f"benchmarks-{measure}.svg")
        chart(r, measure, path)
        paths.append(path)
    path = os.path.join(docs, "benchmarks.md")
    with open(path, "w") as f:
        f.write(page(results, r))
    paths.append(path)
    readme = os.path.join(docs, "README.md")
    update_readme(r, readme)
    paths.append(readme)
    return paths
