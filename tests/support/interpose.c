/* Counts, on request fails, and records calls to libc functions by symbol
 * interposition: the test binary defines these functions, so every call in the
 * process (the code under test included) lands here first, is counted in a page
 * shared with forked children, may be changed by a fault a test armed
 * (kata::InjectedFault), is passed on to the C library's definition
 * (RTLD_NEXT), and is recorded with its arguments and result for the
 * timeline a failing test prints (trace.cc). Written in C because C++ sees
 * glibc's declarations with noexcept. The state and the list of calls are in
 * interpose.h. */

#define _GNU_SOURCE
#include "tests/support/interpose.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <mqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct kata_interpose_state* kata_interpose = 0;
struct kata_trace* kata_trace = 0;

/* Depth of the support library's own work on this thread (see interpose.h). */
static __thread int kata_bypass_depth;
void kata_bypass_enter(void) { ++kata_bypass_depth; }
void kata_bypass_leave(void) { --kata_bypass_depth; }
void kata_bypass_reset(void) { kata_bypass_depth = 0; }

/* Defined in runner.cc: the status the process really ends with when the
 * code under test calls _exit(status); a failure when that process is the
 * test runner itself, in the middle of a test. */
int kata_runner_exit_status(int status);

/* Defined in runner.cc: remembers a created IPC name for the leak check. */
void kata_record_created(char kind, const char* name);

/* This process's half of KATA_FAULT_ALTERNATE: per call, whether its next
 * call fails. Kept per call, not per fault, so that a loop of two calls (poll,
 * then write) does not always land its write on a failing turn. Reset
 * whenever the fault is armed again (a new generation). */
static unsigned kata_local_generation[KATA_MAX_FAULTS];
static unsigned char kata_local_toggle[KATA_MAX_FAULTS][KATA_NUM_CALLS];

struct kata_verdict {
  int action; /* 0, KATA_FAULT_FAIL, _SHORT or _FAIL_AFTER */
  int error;
  long limit;
};

/* This process's pid and its parent's, for the recorder: read once per
 * process, because each is a system call, and a system call costs about a
 * microsecond on some virtual machines (the no-op floor of
 * docs/benchmarks.md); recording paid two per call, which made a semaphore
 * suite twice as expensive in CPU. A forked child forgets them (the fork
 * handler below) and reads its own at its first record. The parent's pid is
 * the one at the first record, which for a child is the process that forked
 * it: the tree the timeline draws, even after that parent has gone. (A child
 * made by a raw clone system call, bypassing fork(), would keep its parent's
 * pids; nothing here does that.) */
static pid_t kata_self_pid;
static pid_t kata_parent_pid;

static void kata_forget_pids(void) {
  __atomic_store_n(&kata_self_pid, 0, __ATOMIC_RELAXED);
}

__attribute__((constructor)) static void kata_watch_forks(void) {
  pthread_atfork(0, 0, kata_forget_pids);
}

/* This process's pid, read at its first use (see above). Relaxed atomics:
 * threads and signal handlers may race to fill the cache, and they all write
 * the same values. */
static pid_t kata_pid(void) {
  pid_t self = __atomic_load_n(&kata_self_pid, __ATOMIC_RELAXED);
  if (self == 0) {
    __atomic_store_n(&kata_parent_pid, getppid(), __ATOMIC_RELAXED);
    self = getpid();
    __atomic_store_n(&kata_self_pid, self, __ATOMIC_RELAXED);
  }
  return self;
}

/* Marks (call >= 0) or clears (-1) the call this process is in. */
static void kata_mark_inflight(struct kata_trace* trace, int call) {
  pid_t self = kata_pid();
  struct kata_inflight* slot = &trace->inflight[self % KATA_INFLIGHT];
  if (call < 0) {
    if (__atomic_load_n(&slot->pid, __ATOMIC_RELAXED) == self) {
      __atomic_store_n(&slot->call, -1, __ATOMIC_RELAXED);
    }
    return;
  }
  __atomic_store_n(&slot->call, -1, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->pid, self, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->call, call, __ATOMIC_RELAXED);
}

void kata_record(int call, long result, int error, int flags, long a0, long a1,
                 long a2, long a3, const void* text, long size) {
  struct kata_trace* trace = kata_trace;
  if (trace == 0 || kata_bypass_depth > 0) return;
  /* Cleared even when recording has stopped: the call did return. */
  kata_mark_inflight(trace, -1);
  if (!__atomic_load_n(&trace->recording, __ATOMIC_ACQUIRE)) return;
  unsigned long n = __atomic_fetch_add(&trace->next, 1, __ATOMIC_RELAXED);
  struct kata_event* event = &trace->events[n % KATA_TRACE_CAPACITY];
  __atomic_store_n(&event->seq, 0, __ATOMIC_RELAXED);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  event->time_ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
  pid_t self = kata_pid();
  event->pid = self;
  event->ppid = __atomic_load_n(&kata_parent_pid, __ATOMIC_RELAXED);
  event->call = call;
  event->result = result;
  event->error = error;
  event->flags = flags;
  event->args[0] = a0;
  event->args[1] = a1;
  event->args[2] = a2;
  event->args[3] = a3;
  /* EFAULT: the caller passed a bad address; reading it here would crash
   * the process the kernel only refused. */
  if (error == EFAULT) text = 0;
  if (size < 0 && text != 0) size = (long)strnlen((const char*)text, 4096);
  if (text == 0 || size < 0) size = 0;
  if (size > KATA_TRACE_TEXT) size = KATA_TRACE_TEXT;
  memcpy(event->text, text ? text : "", (size_t)size);
  event->text_size = (int)size;
  __atomic_store_n(&event->seq, n + 1, __ATOMIC_RELEASE);
}

void kata_record_note(int call, long a0, const char* text, const char* note) {
  struct kata_trace* trace = kata_trace;
  if (trace == 0 || kata_bypass_depth > 0 ||
      !__atomic_load_n(&trace->recording, __ATOMIC_ACQUIRE)) {
    return;
  }
  unsigned long n = __atomic_fetch_add(&trace->next_note, 1, __ATOMIC_RELAXED);
  struct kata_note* slot = &trace->notes[n % KATA_TRACE_NOTES];
  __atomic_store_n(&slot->seq, 0, __ATOMIC_RELAXED);
  size_t size = strnlen(note, KATA_NOTE_TEXT - 1);
  memcpy(slot->text, note, size);
  slot->text[size] = '\0';
  __atomic_store_n(&slot->seq, n + 1, __ATOMIC_RELEASE);
  kata_record(call, 0, 0, 0, a0, (long)(n + 1), 0, 0, text, -1);
}

static struct kata_verdict kata_enter(int index) {
  struct kata_verdict verdict = {0, 0, 0};
  struct kata_interpose_state* state = kata_interpose;
  if (state == 0 || kata_bypass_depth > 0) return verdict;
  __atomic_add_fetch(&state->calls[index], 1, __ATOMIC_RELAXED);
  struct kata_trace* trace = kata_trace;
  if (trace != 0 && __atomic_load_n(&trace->recording, __ATOMIC_RELAXED)) {
    kata_mark_inflight(trace, index);
  }
  if (!__atomic_load_n(&state->armed, __ATOMIC_ACQUIRE)) return verdict;
  pid_t self = 0;
  for (int i = 0; i < KATA_MAX_FAULTS; ++i) {
    struct kata_fault* fault = &state->faults[i];
    if (!__atomic_load_n(&fault->active, __ATOMIC_ACQUIRE)) continue;
    if (!fault->calls[index]) continue;
    if (fault->only_pid != 0 || fault->except_pid != 0) {
      if (self == 0) self = getpid();
      if (fault->only_pid != 0 && fault->only_pid != self) continue;
      if (fault->except_pid != 0 && fault->except_pid == self) continue;
    }
    if (fault->mode == KATA_FAULT_ALTERNATE) {
      if (kata_local_generation[i] != fault->generation) {
        kata_local_generation[i] = fault->generation;
        memset(kata_local_toggle[i], 0, sizeof(kata_local_toggle[i]));
      }
      kata_local_toggle[i][index] ^= 1;
      __atomic_add_fetch(&fault->seen, 1, __ATOMIC_RELAXED);
      if (!kata_local_toggle[i][index]) continue;
      __atomic_add_fetch(&fault->fired, 1, __ATOMIC_RELAXED);
      verdict.action = KATA_FAULT_FAIL;
      verdict.error = fault->error;
      return verdict;
    }
    long n = __atomic_add_fetch(&fault->seen, 1, __ATOMIC_RELAXED);
    if (n < fault->nth) continue;
    if (fault->times >= 0 && n >= fault->nth + fault->times) continue;
    __atomic_add_fetch(&fault->fired, 1, __ATOMIC_RELAXED);
    verdict.action = fault->mode;
    verdict.error = fault->error;
    verdict.limit = fault->limit;
    return verdict;
  }
  return verdict;
}

/* The C library's definition of `name`, looked up once. */
#define REAL(name)                                                      \
  ({                                                                    \
    static __typeof__(&name) real_;                                     \
    if (real_ == 0) real_ = (__typeof__(&name))dlsym(RTLD_NEXT, #name); \
    real_;                                                              \
  })

#define KATA_UNPACK(...) __VA_ARGS__

/* The prologue of every interposed call: count it, and fail it before it is
 * made if a fault says so (recorded as such). */
#define ENTER(name, failed)                                      \
  struct kata_verdict verdict = kata_enter(KATA_CALL_##name);    \
  if (verdict.action == KATA_FAULT_FAIL) {                       \
    kata_record(KATA_CALL_##name, (long)(failed), verdict.error, \
                KATA_EVENT_INJECTED, 0, 0, 0, 0, 0, 0);          \
    errno = verdict.error;                                       \
    return failed;                                               \
  }

/* After the call: report a failure although it was made (FAIL_AFTER), and
 * record what the caller sees. `record` is (a0, a1, a2, a3, text, size). */
#define FINISH(name, result, failed, record)                               \
  {                                                                        \
    int kata_error = errno;                                                \
    int kata_flags =                                                       \
        verdict.action == KATA_FAULT_SHORT ? KATA_EVENT_SHORTENED : 0;     \
    if (verdict.action == KATA_FAULT_FAIL_AFTER && (result) != (failed)) { \
      result = failed;                                                     \
      kata_error = verdict.error;                                          \
      kata_flags = KATA_EVENT_INJECTED;                                    \
    }                                                                      \
    kata_record(KATA_CALL_##name, (long)(result),                          \
                (result) == (failed) ? kata_error : 0, kata_flags,         \
                KATA_UNPACK record);                                       \
    errno = kata_error;                                                    \
    return result;                                                         \
  }

/* A call whose failure is `failed` with errno set. */
#define INTERPOSED(ret, name, params, args, failed, record) \
  ret name params {                                         \
    ENTER(name, failed)                                     \
    ret result = REAL(name) args;                           \
    FINISH(name, result, failed, record)                    \
  }

/* A call that cannot fail: only counted and recorded. */
#define COUNTED(ret, name, params, args, record)                           \
  ret name params {                                                        \
    kata_enter(KATA_CALL_##name);                                          \
    ret result = REAL(name) args;                                          \
    int kata_error = errno;                                                \
    kata_record(KATA_CALL_##name, (long)result, 0, 0, KATA_UNPACK record); \
    errno = kata_error;                                                    \
    return result;                                                         \
  }

/* A call that returns an error number instead of setting errno. */
#define RETURNS_ERROR(name, params, args, record)                            \
  int name params {                                                          \
    struct kata_verdict verdict = kata_enter(KATA_CALL_##name);              \
    int result =                                                             \
        verdict.action == KATA_FAULT_FAIL ? verdict.error : REAL(name) args; \
    int kata_flags =                                                         \
        verdict.action == KATA_FAULT_FAIL ? KATA_EVENT_INJECTED : 0;         \
    if (verdict.action == KATA_FAULT_FAIL_AFTER && result == 0) {            \
      result = verdict.error;                                                \
      kata_flags = KATA_EVENT_INJECTED;                                      \
    }                                                                        \
    int kata_error = errno;                                                  \
    kata_record(KATA_CALL_##name, result, result, kata_flags,                \
                KATA_UNPACK record);                                         \
    errno = kata_error;                                                      \
    return result;                                                           \
  }

/* Whether the caller's pointers are safe to read after the call. */
#define SAFE (result != (__typeof__(result))-1 || errno != EFAULT)

#define NONE (0, 0, 0, 0, 0, 0)
#define TEXT(text) (0, 0, 0, 0, text, -1)
/* The first bytes a transfer moved, when it moved any. */
#define MOVED(data, result) ((result) > 0 ? (data) : 0), (long)(result)

/* The byte count a SHORT fault leaves of `size` (never 0: a transfer of 0
 * bytes means end of file, which is not what a short transfer is). */
static size_t kata_clamp(const struct kata_verdict* verdict, size_t size) {
  if (verdict->action != KATA_FAULT_SHORT || verdict->limit <= 0) return size;
  return size > (size_t)verdict->limit ? (size_t)verdict->limit : size;
}

/* Copies `count` iovecs into `out` (at most 64), cut to `limit` bytes in all;
 * returns how many entries are left. */
static int kata_clamp_iov(const struct kata_verdict* verdict,
                          const struct iovec* iov, int count,
                          struct iovec* out) {
  size_t left = kata_clamp(verdict, (size_t)-1);
  int kept = 0;
  for (int i = 0; i < count && i < 64 && left > 0; ++i) {
    out[kept] = iov[i];
    if (out[kept].iov_len > left) out[kept].iov_len = left;
    left -= out[kept].iov_len;
    ++kept;
  }
  return kept;
}

/* The first buffer of a vector transfer and how much of it `moved` filled:
 * the text of a readv/writev/recvmsg/sendmsg event. */
#define FIRST_IOV(iov, count, moved)                                          \
  ((moved) > 0 && (count) > 0 ? (iov)[0].iov_base : 0),                       \
      ((moved) > 0 && (count) > 0                                             \
           ? ((long)(iov)[0].iov_len < (long)(moved) ? (long)(iov)[0].iov_len \
                                                     : (long)(moved))         \
           : 0)

static long kata_iov_size(const struct iovec* iov, int count) {
  long total = 0;
  for (int i = 0; i < count; ++i) total += (long)iov[i].iov_len;
  return total;
}

/* The path or abstract name a socket address names, for the timeline. */
static const char* kata_address_text(const struct sockaddr* address,
                                     socklen_t size, long* text_size) {
  *text_size = 0;
  if (address == 0 || size <= sizeof(sa_family_t) || errno == EFAULT) return 0;
  if (address->sa_family == AF_UNIX) {
    const char* path = address->sa_data;
    *text_size = (long)size - (long)sizeof(sa_family_t);
    if (path[0] != '\0') *text_size = (long)strnlen(path, (size_t)*text_size);
    return path;
  }
  return 0;
}

/* The port of an AF_INET/AF_INET6 address (0 for others). */
static long kata_port(const struct sockaddr* address) {
  if (address == 0 || errno == EFAULT) return 0;
  if (address->sa_family == AF_INET || address->sa_family == AF_INET6) {
    return ntohs(((const struct sockaddr_in*)address)->sin_port);
  }
  return 0;
}

/* ------------------------------------------ the sanitizers' own pipes
 * The runtimes of AddressSanitizer and UndefinedBehaviorSanitizer call pipe()
 * themselves: UBSan's vptr check, for one, learns whether memory is readable
 * by writing it into a pipe it closes at once. Such a call is no more the
 * test's than the runtime's other work, yet it lands here like any other:
 * it would be counted, could be failed by an armed fault, and its pipe seen
 * by the mechanism watch in a kata that forbids pipes (the gate's ASan run
 * caught a shared memory test's child that way twice). So a call whose caller
 * is a sanitizer's code passes straight through, and its pipe's inode goes
 * to the shared page, where the watch finds it (runner.cc). */

struct kata_code_range {
  uintptr_t start, end;
};
static struct kata_code_range kata_sanitizer_code[8];
static int kata_sanitizer_ranges;

static int kata_note_sanitizer_code(struct dl_phdr_info* info, size_t size,
                                    void* data) {
  (void)size;
  (void)data;
  const char* name = info->dlpi_name;
  if (name == 0 ||
      (strstr(name, "/libasan.so") == 0 && strstr(name, "/libubsan.so") == 0 &&
       strstr(name, "/libtsan.so") == 0 && strstr(name, "/liblsan.so") == 0)) {
    return 0;
  }
  for (int i = 0; i < info->dlpi_phnum && kata_sanitizer_ranges < 8; ++i) {
    const ElfW(Phdr)* segment = &info->dlpi_phdr[i];
    if (segment->p_type != PT_LOAD || (segment->p_flags & PF_X) == 0) continue;
    uintptr_t start = (uintptr_t)info->dlpi_addr + segment->p_vaddr;
    kata_sanitizer_code[kata_sanitizer_ranges].start = start;
    kata_sanitizer_code[kata_sanitizer_ranges].end = start + segment->p_memsz;
    ++kata_sanitizer_ranges;
  }
  return 0;
}

/* Once, before main(): the runtimes are loaded before the program. */
__attribute__((constructor)) static void kata_find_sanitizer_code(void) {
  dl_iterate_phdr(kata_note_sanitizer_code, 0);
}

static int kata_called_by_sanitizer(const void* caller) {
  for (int i = 0; i < kata_sanitizer_ranges; ++i) {
    if ((uintptr_t)caller >= kata_sanitizer_code[i].start &&
        (uintptr_t)caller < kata_sanitizer_code[i].end) {
      return 1;
    }
  }
  return 0;
}

static int kata_sanitizer_pipe(int fds[2]) {
  int result = REAL(pipe)(fds);
  int error = errno;
  struct kata_interpose_state* state = kata_interpose;
  struct stat info;
  if (result == 0 && state != 0 && fstat(fds[0], &info) == 0) {
    unsigned n =
        __atomic_fetch_add(&state->sanitizer_pipes_next, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&state->sanitizer_pipes[n % KATA_SANITIZER_PIPES],
                     (unsigned long)info.st_ino, __ATOMIC_RELEASE);
  }
  errno = error;
  return result;
}

/* ------------------------------------- creating processes and channels */
int pipe(int fds[2]) {
  if (kata_called_by_sanitizer(__builtin_return_address(0))) {
    return kata_sanitizer_pipe(fds);
  }
  ENTER(pipe, -1)
  int result = REAL(pipe)(fds);
  FINISH(pipe, result, -1,
         (result == 0 ? fds[0] : -1, result == 0 ? fds[1] : -1, 0, 0, 0, 0))
}
INTERPOSED(int, pipe2, (int fds[2], int flags), (fds, flags), -1,
           (result == 0 ? fds[0] : -1, result == 0 ? fds[1] : -1, flags, 0, 0,
            0))
INTERPOSED(pid_t, fork, (void), (), -1, NONE)
INTERPOSED(int, socketpair, (int domain, int type, int protocol, int fds[2]),
           (domain, type, protocol, fds), -1,
           (domain, type, result == 0 ? fds[0] : -1, result == 0 ? fds[1] : -1,
            0, 0))
INTERPOSED(int, socket, (int domain, int type, int protocol),
           (domain, type, protocol), -1, (domain, type, protocol, 0, 0, 0))
INTERPOSED(int, mkfifo, (const char* path, mode_t mode), (path, mode), -1,
           (mode, 0, 0, 0, path, -1))
RETURNS_ERROR(posix_spawn,
              (pid_t* restrict pid, const char* restrict path,
               const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* restrict attributes,
               char* const argv[restrict], char* const envp[restrict]),
              (pid, path, actions, attributes, argv, envp),
              (result == 0 && pid ? *pid : 0, 0, 0, 0, path, -1))
RETURNS_ERROR(posix_spawnp,
              (pid_t* restrict pid, const char* restrict file,
               const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* restrict attributes,
               char* const argv[restrict], char* const envp[restrict]),
              (pid, file, actions, attributes, argv, envp),
              (result == 0 && pid ? *pid : 0, 0, 0, 0, file, -1))

/* exec only returns when it fails: the attempt is recorded before it. */
#define EXEC(name, params, args, file)                                       \
  int name params {                                                          \
    ENTER(name, -1)                                                          \
    kata_record(KATA_CALL_##name, 0, 0, KATA_EVENT_BEFORE, 0, 0, 0, 0, file, \
                -1);                                                         \
    int result = REAL(name) args;                                            \
    FINISH(name, result, -1, (0, 0, 0, 0, file, -1))                         \
  }

EXEC(execve, (const char* path, char* const argv[], char* const envp[]),
     (path, argv, envp), path)
EXEC(execv, (const char* path, char* const argv[]), (path, argv), path)
EXEC(execvp, (const char* file, char* const argv[]), (file, argv), file)
EXEC(execvpe, (const char* file, char* const argv[], char* const envp[]),
     (file, argv, envp), file)

/* execl and execlp take their arguments as a list: gather them into an array
 * and go on with execv / execvp (what glibc does too). */
#define KATA_MAX_EXEC_ARGS 256
#define GATHER_ARGS(first, args)                       \
  char* args[KATA_MAX_EXEC_ARGS + 1];                  \
  {                                                    \
    va_list list;                                      \
    va_start(list, first);                             \
    int n = 0;                                         \
    args[n++] = (char*)first;                          \
    while (args[n - 1] != 0 && n < KATA_MAX_EXEC_ARGS) \
      args[n++] = va_arg(list, char*);                 \
    args[n] = 0;                                       \
    va_end(list);                                      \
  }

int execl(const char* path, const char* arg, ...) {
  ENTER(execl, -1)
  GATHER_ARGS(arg, args)
  kata_record(KATA_CALL_execl, 0, 0, KATA_EVENT_BEFORE, 0, 0, 0, 0, path, -1);
  int result = REAL(execv)(path, args);
  FINISH(execl, result, -1, (0, 0, 0, 0, path, -1))
}

int execlp(const char* file, const char* arg, ...) {
  ENTER(execlp, -1)
  GATHER_ARGS(arg, args)
  kata_record(KATA_CALL_execlp, 0, 0, KATA_EVENT_BEFORE, 0, 0, 0, 0, file, -1);
  int result = REAL(execvp)(file, args);
  FINISH(execlp, result, -1, (0, 0, 0, 0, file, -1))
}

/* ------------------------------------------------ files and descriptors */
static mode_t kata_mode_argument(int flags, va_list list) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE
             ? (mode_t)va_arg(list, int)
             : 0;
}

int open(const char* path, int flags, ...) {
  va_list list;
  va_start(list, flags);
  mode_t mode = kata_mode_argument(flags, list);
  va_end(list);
  ENTER(open, -1)
  int result = REAL(open)(path, flags, mode);
  FINISH(open, result, -1, (flags, mode, 0, 0, path, -1))
}

int openat(int dir, const char* path, int flags, ...) {
  va_list list;
  va_start(list, flags);
  mode_t mode = kata_mode_argument(flags, list);
  va_end(list);
  ENTER(openat, -1)
  int result = REAL(openat)(dir, path, flags, mode);
  FINISH(openat, result, -1, (flags, mode, dir, 0, path, -1))
}

/* What _FORTIFY_SOURCE turns open() into when it cannot see the flags. */
int __open_2(const char* path, int flags) { return open(path, flags); }
int __openat_2(int dir, const char* path, int flags) {
  return openat(dir, path, flags);
}

INTERPOSED(int, creat, (const char* path, mode_t mode), (path, mode), -1,
           (O_CREAT | O_WRONLY | O_TRUNC, mode, 0, 0, path, -1))
INTERPOSED(int, memfd_create, (const char* name, unsigned flags), (name, flags),
           -1, (flags, 0, 0, 0, name, -1))
INTERPOSED(int, eventfd, (unsigned count, int flags), (count, flags), -1,
           (count, flags, 0, 0, 0, 0))
INTERPOSED(int, mkstemp, (char* pattern), (pattern), -1, TEXT(pattern))
INTERPOSED(int, mkostemp, (char* pattern, int flags), (pattern, flags), -1,
           (flags, 0, 0, 0, pattern, -1))
INTERPOSED(FILE*, tmpfile, (void), (), 0,
           (result ? fileno(result) : -1, 0, 0, 0, 0, 0))
INTERPOSED(int, dup, (int fd), (fd), -1, (fd, 0, 0, 0, 0, 0))
INTERPOSED(int, dup2, (int fd, int target), (fd, target), -1,
           (fd, target, 0, 0, 0, 0))
INTERPOSED(int, dup3, (int fd, int target, int flags), (fd, target, flags), -1,
           (fd, target, flags, 0, 0, 0))

int fcntl(int fd, int command, ...) {
  va_list list;
  va_start(list, command);
  /* Every fcntl argument fits in a word; the C library reads it the same
   * way. */
  void* argument = va_arg(list, void*);
  va_end(list);
  ENTER(fcntl, -1)
  int result = REAL(fcntl)(fd, command, argument);
  FINISH(fcntl, result, -1, (fd, command, (long)argument, 0, 0, 0))
}

INTERPOSED(int, close, (int fd), (fd), -1, (fd, 0, 0, 0, 0, 0))

/* ----------------------------------------------------------- moving bytes */
ssize_t read(int fd, void* data, size_t size) {
  ENTER(read, -1)
  ssize_t result = REAL(read)(fd, data, kata_clamp(&verdict, size));
  FINISH(read, result, -1, (fd, (long)size, 0, 0, MOVED(data, result)))
}

ssize_t __read_chk(int fd, void* data, size_t size, size_t room);
ssize_t __read_chk(int fd, void* data, size_t size, size_t room) {
  if (size > room) return REAL(__read_chk)(fd, data, size, room);
  return read(fd, data, size);
}

ssize_t readv(int fd, const struct iovec* iov, int count) {
  ENTER(readv, -1)
  struct iovec cut[64];
  ssize_t result =
      verdict.action == KATA_FAULT_SHORT
          ? REAL(readv)(fd, cut, kata_clamp_iov(&verdict, iov, count, cut))
          : REAL(readv)(fd, iov, count);
  FINISH(
      readv, result, -1,
      (fd, kata_iov_size(iov, count), count, 0, FIRST_IOV(iov, count, result)))
}

ssize_t recv(int fd, void* data, size_t size, int flags) {
  ENTER(recv, -1)
  ssize_t result = REAL(recv)(fd, data, kata_clamp(&verdict, size), flags);
  FINISH(recv, result, -1, (fd, (long)size, flags, 0, MOVED(data, result)))
}

ssize_t __recv_chk(int fd, void* data, size_t size, size_t room, int flags);
ssize_t __recv_chk(int fd, void* data, size_t size, size_t room, int flags) {
  if (size > room) return REAL(__recv_chk)(fd, data, size, room, flags);
  return recv(fd, data, size, flags);
}

ssize_t recvfrom(int fd, void* restrict data, size_t size, int flags,
                 struct sockaddr* restrict from, socklen_t* restrict length) {
  ENTER(recvfrom, -1)
  ssize_t result =
      REAL(recvfrom)(fd, data, kata_clamp(&verdict, size), flags, from, length);
  FINISH(recvfrom, result, -1, (fd, (long)size, flags, 0, MOVED(data, result)))
}

ssize_t __recvfrom_chk(int fd, void* restrict data, size_t size, size_t room,
                       int flags, struct sockaddr* restrict from,
                       socklen_t* restrict length);
ssize_t __recvfrom_chk(int fd, void* restrict data, size_t size, size_t room,
                       int flags, struct sockaddr* restrict from,
                       socklen_t* restrict length) {
  if (size > room) {
    return REAL(__recvfrom_chk)(fd, data, size, room, flags, from, length);
  }
  return recvfrom(fd, data, size, flags, from, length);
}

ssize_t recvmsg(int fd, struct msghdr* message, int flags) {
  ENTER(recvmsg, -1)
  ssize_t result;
  if (verdict.action == KATA_FAULT_SHORT) {
    struct iovec cut[64];
    struct msghdr copy = *message;
    copy.msg_iovlen = (size_t)kata_clamp_iov(&verdict, message->msg_iov,
                                             (int)message->msg_iovlen, cut);
    copy.msg_iov = cut;
    result = REAL(recvmsg)(fd, &copy, flags);
    message->msg_namelen = copy.msg_namelen;
    message->msg_controllen = copy.msg_controllen;
    message->msg_flags = copy.msg_flags;
  } else {
    result = REAL(recvmsg)(fd, message, flags);
  }
  FINISH(recvmsg, result, -1,
         (fd, kata_iov_size(message->msg_iov, (int)message->msg_iovlen), flags,
          0, FIRST_IOV(message->msg_iov, (int)message->msg_iovlen, result)))
}

ssize_t write(int fd, const void* data, size_t size) {
  ENTER(write, -1)
  ssize_t result = REAL(write)(fd, data, kata_clamp(&verdict, size));
  FINISH(write, result, -1, (fd, (long)size, 0, 0, MOVED(data, result)))
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  ENTER(writev, -1)
  struct iovec cut[64];
  ssize_t result =
      verdict.action == KATA_FAULT_SHORT
          ? REAL(writev)(fd, cut, kata_clamp_iov(&verdict, iov, count, cut))
          : REAL(writev)(fd, iov, count);
  FINISH(
      writev, result, -1,
      (fd, kata_iov_size(iov, count), count, 0, FIRST_IOV(iov, count, result)))
}

ssize_t send(int fd, const void* data, size_t size, int flags) {
  ENTER(send, -1)
  ssize_t result = REAL(send)(fd, data, kata_clamp(&verdict, size), flags);
  FINISH(send, result, -1, (fd, (long)size, flags, 0, MOVED(data, result)))
}

ssize_t sendto(int fd, const void* data, size_t size, int flags,
               const struct sockaddr* to, socklen_t length) {
  ENTER(sendto, -1)
  ssize_t result =
      REAL(sendto)(fd, data, kata_clamp(&verdict, size), flags, to, length);
  FINISH(sendto, result, -1, (fd, (long)size, flags, 0, MOVED(data, result)))
}

ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  ENTER(sendmsg, -1)
  ssize_t result;
  if (verdict.action == KATA_FAULT_SHORT) {
    struct iovec cut[64];
    struct msghdr copy = *message;
    copy.msg_iovlen = (size_t)kata_clamp_iov(&verdict, message->msg_iov,
                                             (int)message->msg_iovlen, cut);
    copy.msg_iov = cut;
    result = REAL(sendmsg)(fd, &copy, flags);
  } else {
    result = REAL(sendmsg)(fd, message, flags);
  }
  FINISH(sendmsg, result, -1,
         (fd, kata_iov_size(message->msg_iov, (int)message->msg_iovlen), flags,
          0, FIRST_IOV(message->msg_iov, (int)message->msg_iovlen, result)))
}

/* --------------------------------------------------------------- waiting */
INTERPOSED(pid_t, wait, (int* status), (status), -1,
           (-1, 0, result > 0 && status ? *status : 0, status != 0, 0, 0))
INTERPOSED(pid_t, waitpid, (pid_t pid, int* status, int options),
           (pid, status, options), -1,
           (pid, options, result > 0 && status ? *status : 0, status != 0, 0,
            0))
INTERPOSED(pid_t, wait4,
           (pid_t pid, int* status, int options, struct rusage* usage),
           (pid, status, options, usage), -1,
           (pid, options, result > 0 && status ? *status : 0, status != 0, 0,
            0))
INTERPOSED(int, waitid, (idtype_t type, id_t id, siginfo_t* info, int options),
           (type, id, info, options), -1,
           (type, id, options, result == 0 && info ? info->si_pid : 0, 0, 0))
INTERPOSED(int, poll, (struct pollfd * fds, nfds_t count, int timeout),
           (fds, count, timeout), -1,
           ((long)count, timeout, count > 0 && SAFE ? fds[0].fd : -1,
            count > 1 && SAFE ? fds[1].fd : -1, 0, 0))

int __poll_chk(struct pollfd* fds, nfds_t count, int timeout, size_t room);
int __poll_chk(struct pollfd* fds, nfds_t count, int timeout, size_t room) {
  if (room / sizeof(*fds) < count) {
    return REAL(__poll_chk)(fds, count, timeout, room);
  }
  return poll(fds, count, timeout);
}

static long kata_timespec_ms(const struct timespec* time) {
  if (errno == EFAULT) return 0; /* a bad address: not ours to read */
  return time ? (long)time->tv_sec * 1000 + time->tv_nsec / 1000000 : -1;
}

INTERPOSED(int, ppoll,
           (struct pollfd * fds, nfds_t count, const struct timespec* timeout,
            const sigset_t* mask),
           (fds, count, timeout, mask), -1,
           ((long)count, kata_timespec_ms(timeout),
            count > 0 && SAFE ? fds[0].fd : -1,
            count > 1 && SAFE ? fds[1].fd : -1, 0, 0))

int __ppoll_chk(struct pollfd* fds, nfds_t count,
                const struct timespec* timeout, const sigset_t* mask,
                size_t room);
int __ppoll_chk(struct pollfd* fds, nfds_t count,
                const struct timespec* timeout, const sigset_t* mask,
                size_t room) {
  if (room / sizeof(*fds) < count) {
    return REAL(__ppoll_chk)(fds, count, timeout, mask, room);
  }
  return ppoll(fds, count, timeout, mask);
}

INTERPOSED(int, select,
           (int count, fd_set* restrict readable, fd_set* restrict writable,
            fd_set* restrict exceptional, struct timeval* restrict timeout),
           (count, readable, writable, exceptional, timeout), -1,
           (count,
            timeout&& SAFE
                ? (long)timeout->tv_sec * 1000 + timeout->tv_usec / 1000
                : -1,
            0, 0, 0, 0))
INTERPOSED(int, pselect,
           (int count, fd_set* restrict readable, fd_set* restrict writable,
            fd_set* restrict exceptional,
            const struct timespec* restrict timeout,
            const sigset_t* restrict mask),
           (count, readable, writable, exceptional, timeout, mask), -1,
           (count, kata_timespec_ms(timeout), 0, 0, 0, 0))
INTERPOSED(int, epoll_wait,
           (int epoll, struct epoll_event* events, int count, int timeout),
           (epoll, events, count, timeout), -1,
           (epoll, count, timeout, 0, 0, 0))
INTERPOSED(int, epoll_pwait,
           (int epoll, struct epoll_event* events, int count, int timeout,
            const sigset_t* mask),
           (epoll, events, count, timeout, mask), -1,
           (epoll, count, timeout, 0, 0, 0))
INTERPOSED(int, nanosleep,
           (const struct timespec* duration, struct timespec* left),
           (duration, left), -1, (kata_timespec_ms(duration), 0, 0, 0, 0, 0))
RETURNS_ERROR(clock_nanosleep,
              (clockid_t clock, int flags, const struct timespec* until,
               struct timespec* left),
              (clock, flags, until, left),
              (clock, flags, kata_timespec_ms(until), 0, 0, 0))
INTERPOSED(int, usleep, (useconds_t microseconds), (microseconds), -1,
           ((long)microseconds, 0, 0, 0, 0, 0))
COUNTED(unsigned, sleep, (unsigned seconds), (seconds),
        ((long)seconds, 0, 0, 0, 0, 0))
COUNTED(int, sched_yield, (void), (), NONE)

/* --------------------------------------------------------------- signals */
static long kata_handler_kind(void (*handler)(int)) {
  return handler == SIG_DFL ? 0 : handler == SIG_IGN ? 1 : 2;
}

static long kata_set_word(const sigset_t* set) {
  return set ? (long)((const unsigned long*)set)[0] : -1;
}

INTERPOSED(int, kill, (pid_t pid, int signal), (pid, signal), -1,
           (pid, signal, 0, 0, 0, 0))
INTERPOSED(int, sigaction,
           (int signal, const struct sigaction* restrict action,
            struct sigaction* restrict old),
           (signal, action, old), -1,
           (signal, action ? kata_handler_kind(action->sa_handler) : -1,
            action ? action->sa_flags : 0, 0, 0, 0))
INTERPOSED(__sighandler_t, signal, (int number, __sighandler_t handler),
           (number, handler), SIG_ERR,
           (number, kata_handler_kind(handler), 0, 0, 0, 0))

/* Notes the process if this mask change unblocks a SIGPIPE that is pending
 * with its default action. The kernel delivers it inside the call, so the
 * process dies there and never returns to be asked: noting it first lets the
 * report of its death say "blocked, but still pending when unblocked" (a
 * write's SIGPIPE that was never taken) instead of "never blocked". */
static void kata_note_sigpipe_unblock(int how, const sigset_t* set) {
  struct kata_interpose_state* state = kata_interpose;
  if (state == 0 || set == 0 || kata_bypass_depth > 0) return;
  const int unblocks = how == SIG_UNBLOCK   ? sigismember(set, SIGPIPE) == 1
                       : how == SIG_SETMASK ? sigismember(set, SIGPIPE) == 0
                                            : 0;
  if (!unblocks) return;
  const int saved_errno = errno;
  sigset_t blocked, pending;
  struct sigaction action;
  if (REAL(pthread_sigmask)(SIG_BLOCK, 0, &blocked) == 0 &&
      sigismember(&blocked, SIGPIPE) == 1 && REAL(sigpending)(&pending) == 0 &&
      sigismember(&pending, SIGPIPE) == 1 &&
      REAL(sigaction)(SIGPIPE, 0, &action) == 0 &&
      !(action.sa_flags & SA_SIGINFO) && action.sa_handler == SIG_DFL) {
    __atomic_store_n(&state->sigpipe_unblocked_pid, getpid(), __ATOMIC_RELEASE);
  }
  errno = saved_errno;
}

int sigprocmask(int how, const sigset_t* restrict set, sigset_t* restrict old) {
  ENTER(sigprocmask, -1)
  kata_note_sigpipe_unblock(how, set);
  int result = REAL(sigprocmask)(how, set, old);
  FINISH(sigprocmask, result, -1,
         (how, result == 0 ? kata_set_word(set) : 0, 0, 0, 0, 0))
}
int pthread_sigmask(int how, const sigset_t* restrict set,
                    sigset_t* restrict old) {
  struct kata_verdict verdict = kata_enter(KATA_CALL_pthread_sigmask);
  if (verdict.action != KATA_FAULT_FAIL) kata_note_sigpipe_unblock(how, set);
  int result = verdict.action == KATA_FAULT_FAIL
                   ? verdict.error
                   : REAL(pthread_sigmask)(how, set, old);
  int kata_flags = verdict.action == KATA_FAULT_FAIL ? KATA_EVENT_INJECTED : 0;
  if (verdict.action == KATA_FAULT_FAIL_AFTER && result == 0) {
    result = verdict.error;
    kata_flags = KATA_EVENT_INJECTED;
  }
  int kata_error = errno;
  kata_record(KATA_CALL_pthread_sigmask, result, result, kata_flags, how,
              result == 0 ? kata_set_word(set) : 0, 0, 0, 0, 0);
  errno = kata_error;
  return result;
}
INTERPOSED(int, sigtimedwait,
           (const sigset_t* restrict set, siginfo_t* restrict info,
            const struct timespec* restrict timeout),
           (set, info, timeout), -1,
           (result > 0 ? kata_set_word(set) : 0,
            SAFE ? kata_timespec_ms(timeout) : 0, 0, 0, 0, 0))
INTERPOSED(int, sigwaitinfo,
           (const sigset_t* restrict set, siginfo_t* restrict info),
           (set, info), -1,
           (result > 0 ? kata_set_word(set) : 0, 0, 0, 0, 0, 0))
INTERPOSED(int, sigpending, (sigset_t * set), (set), -1,
           (result == 0 ? kata_set_word(set) : 0, 0, 0, 0, 0, 0))

/* ------------------------------------------ POSIX names (leak-checked) */
int shm_open(const char* name, int flags, mode_t mode) {
  ENTER(shm_open, -1)
  int fd = REAL(shm_open)(name, flags, mode);
  if (fd >= 0 && (flags & O_CREAT)) kata_record_created('p', name);
  FINISH(shm_open, fd, -1, (flags, mode, 0, 0, name, -1))
}

INTERPOSED(int, shm_unlink, (const char* name), (name), -1, TEXT(name))

sem_t* sem_open(const char* name, int flags, ...) {
  mode_t mode = 0;
  unsigned value = 0;
  if (flags & O_CREAT) {
    va_list list;
    va_start(list, flags);
    mode = va_arg(list, mode_t);
    value = va_arg(list, unsigned);
    va_end(list);
  }
  ENTER(sem_open, SEM_FAILED)
  sem_t* sem = (flags & O_CREAT) ? REAL(sem_open)(name, flags, mode, value)
                                 : REAL(sem_open)(name, flags);
  if (sem != SEM_FAILED && (flags & O_CREAT)) kata_record_created('s', name);
  FINISH(sem_open, sem, SEM_FAILED, (flags, mode, value, 0, name, -1))
}

INTERPOSED(int, sem_close, (sem_t * sem), (sem), -1, NONE)
INTERPOSED(int, sem_unlink, (const char* name), (name), -1, TEXT(name))

mqd_t mq_open(const char* name, int flags, ...) {
  mode_t mode = 0;
  struct mq_attr* attributes = 0;
  if (flags & O_CREAT) {
    va_list list;
    va_start(list, flags);
    mode = va_arg(list, mode_t);
    attributes = va_arg(list, struct mq_attr*);
    va_end(list);
  }
  ENTER(mq_open, (mqd_t)-1)
  mqd_t queue = (flags & O_CREAT) ? REAL(mq_open)(name, flags, mode, attributes)
                                  : REAL(mq_open)(name, flags);
  if (queue != (mqd_t)-1 && (flags & O_CREAT)) kata_record_created('m', name);
  FINISH(
      mq_open, queue, (mqd_t)-1,
      (flags, mode, attributes && errno != EFAULT ? attributes->mq_maxmsg : 0,
       attributes && errno != EFAULT ? attributes->mq_msgsize : 0, name, -1))
}

INTERPOSED(int, mq_close, (mqd_t queue), (queue), -1, (queue, 0, 0, 0, 0, 0))
INTERPOSED(int, mq_unlink, (const char* name), (name), -1, TEXT(name))

/* --------------------------------------------------------- System V IPC */
/* A System V message starts with its type (a long); the text follows. */
#define MTYPE(message) ((message) ? *(const long*)(message) : 0)
#define MTEXT(message) ((const char*)(message) + sizeof(long))

INTERPOSED(int, msgget, (key_t key, int flags), (key, flags), -1,
           (key, flags, 0, 0, 0, 0))
INTERPOSED(int, msgsnd, (int id, const void* message, size_t size, int flags),
           (id, message, size, flags), -1,
           (id, (long)size, flags, result == 0 ? MTYPE(message) : 0,
            result == 0 ? MTEXT(message) : 0, (long)size))
INTERPOSED(ssize_t, msgrcv,
           (int id, void* message, size_t size, long type, int flags),
           (id, message, size, type, flags), -1,
           (id, (long)size, flags, type, result >= 0 ? MTEXT(message) : 0,
            result))
INTERPOSED(int, msgctl, (int id, int command, struct msqid_ds* buffer),
           (id, command, buffer), -1, (id, command, 0, 0, 0, 0))
INTERPOSED(int, shmget, (key_t key, size_t size, int flags), (key, size, flags),
           -1, (key, (long)size, flags, 0, 0, 0))
INTERPOSED(void*, shmat, (int id, const void* address, int flags),
           (id, address, flags), (void*)-1, (id, flags, 0, 0, 0, 0))
INTERPOSED(int, shmdt, (const void* address), (address), -1, NONE)
INTERPOSED(int, shmctl, (int id, int command, struct shmid_ds* buffer),
           (id, command, buffer), -1, (id, command, 0, 0, 0, 0))
INTERPOSED(int, semget, (key_t key, int count, int flags), (key, count, flags),
           -1, (key, count, flags, 0, 0, 0))
INTERPOSED(int, semop, (int id, struct sembuf* operations, size_t count),
           (id, operations, count), -1,
           (id, (long)count,
            count > 0 && operations && SAFE ? operations[0].sem_op : 0,
            count > 0 && operations && SAFE ? operations[0].sem_flg : 0, 0, 0))
INTERPOSED(int, semtimedop,
           (int id, struct sembuf* operations, size_t count,
            const struct timespec* timeout),
           (id, operations, count, timeout), -1,
           (id, (long)count,
            count > 0 && operations && SAFE ? operations[0].sem_op : 0,
            kata_timespec_ms(timeout), 0, 0))

int semctl(int id, int number, int command, ...) {
  va_list list;
  va_start(list, command);
  /* union semun is one word; every command that takes it reads it so. */
  unsigned long argument = va_arg(list, unsigned long);
  va_end(list);
  ENTER(semctl, -1)
  int result = REAL(semctl)(id, number, command, argument);
  FINISH(semctl, result, -1, (id, number, command, 0, 0, 0))
}

/* ------------------------------------------------ POSIX message queues */
static long kata_deadline_ms(const struct timespec* deadline) {
  /* Milliseconds from now to an absolute CLOCK_REALTIME deadline. */
  if (deadline == 0) return -1;
  if (errno == EFAULT) return 0;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return (long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* A field of mq_attr (0 maxmsg, 1 msgsize, 2 curmsgs), read through a
 * pointer the compiler cannot assume to be valid. */
static long kata_attr(const struct mq_attr* attributes, int which) {
  const struct mq_attr* volatile checked = attributes;
  if (checked == 0) return 0;
  return which == 0   ? checked->mq_maxmsg
         : which == 1 ? checked->mq_msgsize
                      : checked->mq_curmsgs;
}

INTERPOSED(int, mq_send,
           (mqd_t queue, const char* message, size_t size, unsigned priority),
           (queue, message, size, priority), -1,
           (queue, (long)size, priority, 0, result == 0 ? message : 0,
            (long)size))
INTERPOSED(int, mq_timedsend,
           (mqd_t queue, const char* message, size_t size, unsigned priority,
            const struct timespec* deadline),
           (queue, message, size, priority, deadline), -1,
           (queue, (long)size, priority, SAFE ? kata_deadline_ms(deadline) : 0,
            result == 0 ? message : 0, (long)size))
INTERPOSED(ssize_t, mq_receive,
           (mqd_t queue, char* message, size_t size, unsigned* priority),
           (queue, message, size, priority), -1,
           (queue, (long)size, result >= 0 && priority ? *priority : 0, 0,
            MOVED(message, result)))
INTERPOSED(ssize_t, mq_timedreceive,
           (mqd_t queue, char* restrict message, size_t size,
            unsigned* restrict priority,
            const struct timespec* restrict deadline),
           (queue, message, size, priority, deadline), -1,
           (queue, (long)size, result >= 0 && priority ? *priority : 0,
            kata_deadline_ms(deadline), MOVED(message, result)))
INTERPOSED(int, mq_getattr, (mqd_t queue, struct mq_attr* attributes),
           (queue, attributes), -1,
           (queue, result == 0 ? kata_attr(attributes, 0) : 0,
            result == 0 ? kata_attr(attributes, 1) : 0,
            result == 0 ? kata_attr(attributes, 2) : 0, 0, 0))
INTERPOSED(int, mq_setattr,
           (mqd_t queue, const struct mq_attr* restrict attributes,
            struct mq_attr* restrict old),
           (queue, attributes, old), -1, (queue, 0, 0, 0, 0, 0))
INTERPOSED(int, mq_notify, (mqd_t queue, const struct sigevent* event),
           (queue, event), -1, (queue, 0, 0, 0, 0, 0))

/* -------------------------------------- shared memory and semaphores */
INTERPOSED(void*, mmap,
           (void* address, size_t length, int protection, int flags, int fd,
            off_t offset),
           (address, length, protection, flags, fd, offset), MAP_FAILED,
           ((long)length, protection, flags, fd, 0, 0))
INTERPOSED(int, munmap, (void* address, size_t length), (address, length), -1,
           ((long)length, 0, 0, 0, 0, 0))
INTERPOSED(int, ftruncate, (int fd, off_t length), (fd, length), -1,
           (fd, (long)length, 0, 0, 0, 0))
/* Each semaphore call records the semaphore's address first (a0): the
 * timeline names semaphores by it ("semaphore #2"), so that waiting on the
 * wrong one shows. */
#define SEMAPHORE(sem) ((long)(uintptr_t)(sem), 0, 0, 0, 0, 0)
INTERPOSED(int, sem_init, (sem_t * sem, int pshared, unsigned value),
           (sem, pshared, value), -1,
           ((long)(uintptr_t)sem, pshared, value, 0, 0, 0))
INTERPOSED(int, sem_destroy, (sem_t * sem), (sem), -1, SEMAPHORE(sem))
INTERPOSED(int, sem_wait, (sem_t * sem), (sem), -1, SEMAPHORE(sem))
INTERPOSED(int, sem_timedwait,
           (sem_t* restrict sem, const struct timespec* restrict deadline),
           (sem, deadline), -1,
           ((long)(uintptr_t)sem, kata_deadline_ms(deadline), 0, 0, 0, 0))
INTERPOSED(int, sem_clockwait,
           (sem_t* restrict sem, clockid_t clock,
            const struct timespec* restrict deadline),
           (sem, clock, deadline), -1,
           ((long)(uintptr_t)sem, clock, 0, 0, 0, 0))
INTERPOSED(int, sem_trywait, (sem_t * sem), (sem), -1, SEMAPHORE(sem))
INTERPOSED(int, sem_post, (sem_t * sem), (sem), -1, SEMAPHORE(sem))
INTERPOSED(int, sem_getvalue, (sem_t* restrict sem, int* restrict value),
           (sem, value), -1,
           ((long)(uintptr_t)sem, result == 0 ? *value : 0, 0, 0, 0, 0))

/* -------------------------------------------------------------- sockets */
int bind(int fd, const struct sockaddr* address, socklen_t size) {
  ENTER(bind, -1)
  int result = REAL(bind)(fd, address, size);
  long text_size;
  const char* text = kata_address_text(address, size, &text_size);
  FINISH(bind, result, -1,
         (fd, address && SAFE ? address->sa_family : 0, kata_port(address), 0,
          text, text_size))
}

INTERPOSED(int, listen, (int fd, int backlog), (fd, backlog), -1,
           (fd, backlog, 0, 0, 0, 0))
INTERPOSED(int, accept,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1, (fd, 0, 0, 0, 0, 0))
INTERPOSED(int, accept4,
           (int fd, struct sockaddr* restrict address, socklen_t* restrict size,
            int flags),
           (fd, address, size, flags), -1, (fd, flags, 0, 0, 0, 0))

int connect(int fd, const struct sockaddr* address, socklen_t size) {
  ENTER(connect, -1)
  int result = REAL(connect)(fd, address, size);
  long text_size;
  const char* text = kata_address_text(address, size, &text_size);
  FINISH(connect, result, -1,
         (fd, address && SAFE ? address->sa_family : 0, kata_port(address), 0,
          text, text_size))
}

INTERPOSED(int, shutdown, (int fd, int how), (fd, how), -1,
           (fd, how, 0, 0, 0, 0))
INTERPOSED(int, setsockopt,
           (int fd, int level, int name, const void* value, socklen_t size),
           (fd, level, name, value, size), -1,
           (fd, level, name,
            value&& size >= (socklen_t)sizeof(int) ? *(const int*)value : 0, 0,
            0))
INTERPOSED(int, getsockopt,
           (int fd, int level, int name, void* restrict value,
            socklen_t* restrict size),
           (fd, level, name, value, size), -1, (fd, level, name, 0, 0, 0))
INTERPOSED(int, getsockname,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1,
           (fd, result == 0 ? kata_port(address) : 0, 0, 0, 0, 0))
INTERPOSED(int, getpeername,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1, (fd, 0, 0, 0, 0, 0))

/* ------------------------------------- threads instead of processes */
RETURNS_ERROR(pthread_create,
              (pthread_t * thread, const pthread_attr_t* attributes,
               void* (*start)(void*), void* argument),
              (thread, attributes, start, argument), NONE)

/* -------------------------------------------------- the end of a process */
void _exit(int status) {
  kata_enter(KATA_CALL__exit);
  kata_record(KATA_CALL__exit, 0, 0, KATA_EVENT_BEFORE, status, 0, 0, 0, 0, 0);
  if (kata_bypass_depth == 0) status = kata_runner_exit_status(status);
  REAL(_exit)(status);
  for (;;) {
  }
}
