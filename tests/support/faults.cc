// Fault injection (faults.h): arming and disarming the slots of the shared
// interposition state, and the loop that fails each call in turn.

#include "tests/support/faults.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

static_assert(EINTR == 4);

namespace kata {
namespace internal {

int CallIndex(std::string_view call) {
  for (int i = 0; i < kNumCountedCalls; ++i) {
    if (call == kCountedCalls[i]) return i;
  }
  return -1;
}

void DisarmAllFaults() {
  kata_interpose_state& state = Shared().interpose;
  __atomic_store_n(&state.armed, 0, __ATOMIC_RELEASE);
  for (kata_fault& fault : state.faults) {
    __atomic_store_n(&fault.active, 0, __ATOMIC_RELEASE);
  }
}

}  // namespace internal

namespace {

std::string Ordinal(long n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return std::to_string(n) + suffix;
}

std::string ErrorName(int error) {
  const char* name = strerrorname_np(error);
  return std::string(name ? name : std::to_string(error)) + " (" +
         std::strerror(error) + ")";
}

std::string CallList(const Calls& calls) {
  std::string text;
  for (std::string_view call : calls) {
    text += (text.empty() ? "" : "/") + std::string(call) + "()";
  }
  return text;
}

kata_fault& Slot(int slot) { return internal::Shared().interpose.faults[slot]; }

// Claims a free slot and fills it in; the fault is live once `active` is set.
int Arm(const Calls& calls, int mode, int error, long limit, long nth,
        long times) {
  kata_interpose_state& state = internal::Shared().interpose;
  static unsigned generation = 0;
  std::vector<int> indices;
  for (std::string_view call : calls) {
    int index = internal::CallIndex(call);
    if (index < 0) {
      throw std::invalid_argument("kata::InjectedFault: " + std::string(call) +
                                  "() is not interposed (see interpose.h)");
    }
    indices.push_back(index);
  }
  for (int slot = 0; slot < KATA_MAX_FAULTS; ++slot) {
    kata_fault& fault = state.faults[slot];
    if (__atomic_load_n(&fault.active, __ATOMIC_ACQUIRE)) continue;
    std::memset(fault.calls, 0, sizeof(fault.calls));
    for (int index : indices) fault.calls[index] = 1;
    fault.mode = mode;
    fault.error = error;
    fault.limit = limit;
    fault.nth = nth < 1 ? 1 : nth;
    fault.times = times;
    fault.only_pid = 0;
    fault.except_pid = 0;
    fault.generation = ++generation;
    __atomic_store_n(&fault.seen, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault.fired, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fault.active, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&state.armed, 1, __ATOMIC_RELEASE);
    return slot;
  }
  throw std::length_error("kata::InjectedFault: more than " +
                          std::to_string(KATA_MAX_FAULTS) +
                          " faults armed at once");
}

// The calls that report each other's failures: a fault on pipe2() may be
// reported as "pipe", one on mq_timedreceive() as "mq_receive".
const std::vector<std::set<std::string>>& Families() {
  static const std::vector<std::set<std::string>> families = {
      {"pipe", "pipe2"},
      {"read", "readv", "recv", "recvfrom", "recvmsg"},
      {"write", "writev", "send", "sendto", "sendmsg"},
      {"wait", "waitpid", "wait4", "waitid"},
      {"poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait"},
      {"accept", "accept4"},
      {"dup", "dup2", "dup3"},
      {"open", "openat", "creat"},
      {"execve", "execv", "execvp", "execvpe", "execl", "execlp", "exec",
       "posix_spawn", "posix_spawnp"},
      {"mq_send", "mq_timedsend"},
      {"mq_receive", "mq_timedreceive"},
      {"sem_wait", "sem_timedwait", "sem_clockwait", "sem_trywait"},
      {"semop", "semtimedop"},
      {"sigprocmask", "pthread_sigmask"},
      {"sigtimedwait", "sigwaitinfo"},
  };
  return families;
}

bool NamesCall(const std::string& text, const std::string& call) {
  if (text.find(call) != std::string::npos) return true;
  for (const std::set<std::string>& family : Families()) {
    if (!family.count(call)) continue;
    for (const std::string& member : family) {
      if (text.find(member) != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::string_view> InterposedCalls() {
  return std::vector<std::string_view>(std::begin(internal::kCountedCalls),
                                       std::end(internal::kCountedCalls));
}

// ----------------------------------------------------------- InjectedFault

InjectedFault InjectedFault::Fail(const Calls& calls, int error, long nth,
                                  long times) {
  int slot = Arm(calls, KATA_FAULT_FAIL, error, 0, nth, times);
  std::string which = times == 1 ? "the " + Ordinal(nth) + " "
                      : times < 0
                          ? "every call from the " + Ordinal(nth) + " on of "
                          : std::to_string(times) + " calls from the " +
                                Ordinal(nth) + " on of ";
  return InjectedFault(
      slot, which + CallList(calls) + " fails with " + ErrorName(error));
}

InjectedFault InjectedFault::InterruptEach(const Calls& calls, int error) {
  int slot = Arm(calls, KATA_FAULT_ALTERNATE, error, 0, 1, -1);
  return InjectedFault(slot, "each blocking call fails once with " +
                                 ErrorName(error) + " before it gets through");
}

InjectedFault InjectedFault::ShortTransfer(const Calls& calls,
                                           std::size_t bytes, long nth,
                                           long times) {
  if (bytes == 0) {
    throw std::invalid_argument(
        "kata::InjectedFault::ShortTransfer: a transfer of 0 bytes is end of "
        "file, not a short transfer");
  }
  int slot =
      Arm(calls, KATA_FAULT_SHORT, 0, static_cast<long>(bytes), nth, times);
  return InjectedFault(slot, CallList(calls) + " move at most " +
                                 std::to_string(bytes) + " bytes per call");
}

InjectedFault InjectedFault::FailAfterCall(const Calls& calls, int error,
                                           long nth) {
  int slot = Arm(calls, KATA_FAULT_FAIL_AFTER, error, 0, nth, 1);
  return InjectedFault(slot, "the " + Ordinal(nth) + " " + CallList(calls) +
                                 " is made, then reports " + ErrorName(error));
}

InjectedFault& InjectedFault::OnlyIn(pid_t pid) {
  if (slot_ >= 0) Slot(slot_).only_pid = pid;
  return *this;
}

InjectedFault& InjectedFault::ExceptIn(pid_t pid) {
  if (slot_ >= 0) Slot(slot_).except_pid = pid;
  return *this;
}

InjectedFault::InjectedFault(InjectedFault&& other) noexcept
    : slot_(std::exchange(other.slot_, -1)),
      description_(std::move(other.description_)) {}

InjectedFault::~InjectedFault() {
  if (slot_ < 0) return;
  __atomic_store_n(&Slot(slot_).active, 0, __ATOMIC_RELEASE);
  kata_interpose_state& state = internal::Shared().interpose;
  bool any = false;
  for (const kata_fault& fault : state.faults) {
    any = any || __atomic_load_n(&fault.active, __ATOMIC_ACQUIRE);
  }
  if (!any) __atomic_store_n(&state.armed, 0, __ATOMIC_RELEASE);
}

long InjectedFault::seen() const {
  return slot_ < 0 ? 0 : __atomic_load_n(&Slot(slot_).seen, __ATOMIC_RELAXED);
}

long InjectedFault::fired() const {
  return slot_ < 0 ? 0 : __atomic_load_n(&Slot(slot_).fired, __ATOMIC_RELAXED);
}

// -------------------------------------------------------------- NotCounted

NotCounted::NotCounted() { kata_bypass_enter(); }
NotCounted::~NotCounted() { kata_bypass_leave(); }

// ------------------------------------------------- ForEachInjectedFailure

std::string FaultCase::ToString() const {
  return "the " + Ordinal(nth) + " " + call + "() failing with " +
         ErrorName(error);
}

std::vector<FaultCase> ForEachInjectedFailure(
    const Calls& calls, int error,
    const std::function<void(const FaultCase*)>& body, int max_per_call) {
  std::vector<long> counts;
  {
    CallCounter counter;
    body(nullptr);
    for (std::string_view call : calls) {
      counts.push_back(counter.Count({call}));
    }
  }
  std::vector<FaultCase> cases;
  std::size_t i = 0;
  for (std::string_view call : calls) {
    const long count = counts[i++];
    std::vector<long> occurrences;
    for (long n = 1; n <= count; ++n) {
      if (n <= max_per_call - 1 || n == count) occurrences.push_back(n);
    }
    for (long n : occurrences) {
      FaultCase fault_case{std::string(call), n, error};
      OnDeadlock("the test hung after " + fault_case.ToString() +
                 ": an error path that waits for something that will never "
                 "come (a child still holding a pipe end, a peer never told "
                 "to stop)");
      InjectedFault fault = InjectedFault::Fail({call}, error, n);
      SCOPED_TRACE(fault_case.ToString());
      body(&fault_case);
      if (fault.fired() > 0) cases.push_back(fault_case);
    }
  }
  return cases;
}

bool ExpectReportedOrRecovered(const FaultCase& fault,
                               const std::function<void()>& call,
                               bool recovered_is_fine, std::string_view hint) {
  try {
    call();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), fault.error)
        << "after " << fault.ToString() << ", std::system_error carried "
        << e.code().message() << " (what(): " << e.what()
        << ") instead of the errno of the failed call" << Hint(hint);
    EXPECT_TRUE(NamesCall(e.what(), fault.call))
        << "after " << fault.ToString()
        << ", the error should name the call that failed (" << fault.call
        << "), but it says: " << e.what()
        << Hint(
               "std::system_error(errno, std::generic_category(), "
               "\"<call>\"), thrown right where the call failed");
    return true;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "after " << fault.ToString() << ", the code threw "
                  << e.what()
                  << " instead of a std::system_error naming the call"
                  << Hint(hint);
    return true;
  }
  if (!recovered_is_fine) {
    ADD_FAILURE() << fault.ToString()
                  << " went unreported: the call returned as if all was well"
                  << Hint(hint);
  }
  return false;
}

}  // namespace kata
