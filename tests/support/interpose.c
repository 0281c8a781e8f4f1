/* Counts, and on request fails, calls to libc functions by symbol
 * interposition: the test binary defines these functions, so every call in the
 * process (the code under test included) lands here first, is counted in a page
 * shared with forked children, may be changed by a fault a test armed
 * (kata::InjectedFault), and is passed on to the C library's definition
 * (RTLD_NEXT). Written in C because C++ sees glibc's declarations with
 * noexcept. The state and the list of calls are in interpose.h. */

#define _GNU_SOURCE
#include "tests/support/interpose.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Depth of the support library's own work on this thread (see interpose.h). */
static __thread int kata_bypass_depth;
void kata_bypass_enter(void) { ++kata_bypass_depth; }
void kata_bypass_leave(void) { --kata_bypass_depth; }
void kata_bypass_reset(void) { kata_bypass_depth = 0; }

/* Defined in runner.cc: remembers a created IPC name for the leak check. */
void kata_record_created(char kind, const char* name);

/* This process's half of KATA_FAULT_ALTERNATE: whether the next matching
 * call fails. Reset whenever the fault is armed again (a new generation). */
static unsigned kata_local_generation[KATA_MAX_FAULTS];
static int kata_local_toggle[KATA_MAX_FAULTS];

struct kata_verdict {
  int action; /* 0, KATA_FAULT_FAIL, _SHORT or _FAIL_AFTER */
  int error;
  long limit;
};

static struct kata_verdict kata_enter(int index) {
  struct kata_verdict verdict = {0, 0, 0};
  struct kata_interpose_state* state = kata_interpose;
  if (state == 0 || kata_bypass_depth > 0) return verdict;
  __atomic_add_fetch(&state->calls[index], 1, __ATOMIC_RELAXED);
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
        kata_local_toggle[i] = 0;
      }
      kata_local_toggle[i] ^= 1;
      __atomic_add_fetch(&fault->seen, 1, __ATOMIC_RELAXED);
      if (!kata_local_toggle[i]) continue;
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

/* The prologue of every interposed call: count it, and fail it before it is
 * made if a fault says so. */
#define ENTER(name, failed)                                   \
  struct kata_verdict verdict = kata_enter(KATA_CALL_##name); \
  if (verdict.action == KATA_FAULT_FAIL) {                    \
    errno = verdict.error;                                    \
    return failed;                                            \
  }

/* After the call: report a failure although it was made (FAIL_AFTER). */
#define LEAVE(result, failed)                                            \
  if (verdict.action == KATA_FAULT_FAIL_AFTER && (result) != (failed)) { \
    errno = verdict.error;                                               \
    return failed;                                                       \
  }                                                                      \
  return result;

/* A call whose failure is `failed` with errno set. */
#define INTERPOSED(ret, name, params, args, failed) \
  ret name params {                                 \
    ENTER(name, failed)                             \
    ret result = REAL(name) args;                   \
    LEAVE(result, failed)                           \
  }

/* A call that is only counted (it has no failure worth injecting). */
#define COUNTED(ret, name, params, args) \
  ret name params {                      \
    kata_enter(KATA_CALL_##name);        \
    return REAL(name) args;              \
  }

/* A call that returns an error number instead of setting errno. */
#define RETURNS_ERROR(name, params, args)                        \
  int name params {                                              \
    struct kata_verdict verdict = kata_enter(KATA_CALL_##name);  \
    if (verdict.action == KATA_FAULT_FAIL) return verdict.error; \
    int result = REAL(name) args;                                \
    if (verdict.action == KATA_FAULT_FAIL_AFTER && result == 0)  \
      return verdict.error;                                      \
    return result;                                               \
  }

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

/* ------------------------------------- creating processes and channels */
INTERPOSED(int, pipe, (int fds[2]), (fds), -1)
INTERPOSED(int, pipe2, (int fds[2], int flags), (fds, flags), -1)
INTERPOSED(pid_t, fork, (void), (), -1)
INTERPOSED(int, socketpair, (int domain, int type, int protocol, int fds[2]),
           (domain, type, protocol, fds), -1)
INTERPOSED(int, socket, (int domain, int type, int protocol),
           (domain, type, protocol), -1)
INTERPOSED(int, mkfifo, (const char* path, mode_t mode), (path, mode), -1)
RETURNS_ERROR(posix_spawn,
              (pid_t* restrict pid, const char* restrict path,
               const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* restrict attributes,
               char* const argv[restrict], char* const envp[restrict]),
              (pid, path, actions, attributes, argv, envp))
RETURNS_ERROR(posix_spawnp,
              (pid_t* restrict pid, const char* restrict file,
               const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* restrict attributes,
               char* const argv[restrict], char* const envp[restrict]),
              (pid, file, actions, attributes, argv, envp))
INTERPOSED(int, execve,
           (const char* path, char* const argv[], char* const envp[]),
           (path, argv, envp), -1)
INTERPOSED(int, execv, (const char* path, char* const argv[]), (path, argv), -1)
INTERPOSED(int, execvp, (const char* file, char* const argv[]), (file, argv),
           -1)
INTERPOSED(int, execvpe,
           (const char* file, char* const argv[], char* const envp[]),
           (file, argv, envp), -1)

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
  return REAL(execv)(path, args);
}

int execlp(const char* file, const char* arg, ...) {
  ENTER(execlp, -1)
  GATHER_ARGS(arg, args)
  return REAL(execvp)(file, args);
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
  LEAVE(result, -1)
}

int openat(int dir, const char* path, int flags, ...) {
  va_list list;
  va_start(list, flags);
  mode_t mode = kata_mode_argument(flags, list);
  va_end(list);
  ENTER(openat, -1)
  int result = REAL(openat)(dir, path, flags, mode);
  LEAVE(result, -1)
}

/* What _FORTIFY_SOURCE turns open() into when it cannot see the flags. */
int __open_2(const char* path, int flags) { return open(path, flags); }
int __openat_2(int dir, const char* path, int flags) {
  return openat(dir, path, flags);
}

INTERPOSED(int, creat, (const char* path, mode_t mode), (path, mode), -1)
INTERPOSED(int, memfd_create, (const char* name, unsigned flags), (name, flags),
           -1)
INTERPOSED(int, eventfd, (unsigned count, int flags), (count, flags), -1)
INTERPOSED(int, mkstemp, (char* pattern), (pattern), -1)
INTERPOSED(int, mkostemp, (char* pattern, int flags), (pattern, flags), -1)
INTERPOSED(FILE*, tmpfile, (void), (), 0)
INTERPOSED(int, dup, (int fd), (fd), -1)
INTERPOSED(int, dup2, (int fd, int target), (fd, target), -1)
INTERPOSED(int, dup3, (int fd, int target, int flags), (fd, target, flags), -1)

int fcntl(int fd, int command, ...) {
  va_list list;
  va_start(list, command);
  /* Every fcntl argument fits in a word; the C library reads it the same
   * way. */
  void* argument = va_arg(list, void*);
  va_end(list);
  ENTER(fcntl, -1)
  int result = REAL(fcntl)(fd, command, argument);
  LEAVE(result, -1)
}

INTERPOSED(int, close, (int fd), (fd), -1)

/* ----------------------------------------------------------- moving bytes */
ssize_t read(int fd, void* data, size_t size) {
  ENTER(read, -1)
  ssize_t result = REAL(read)(fd, data, kata_clamp(&verdict, size));
  LEAVE(result, -1)
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
  LEAVE(result, -1)
}

ssize_t recv(int fd, void* data, size_t size, int flags) {
  ENTER(recv, -1)
  ssize_t result = REAL(recv)(fd, data, kata_clamp(&verdict, size), flags);
  LEAVE(result, -1)
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
  LEAVE(result, -1)
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
  LEAVE(result, -1)
}

ssize_t write(int fd, const void* data, size_t size) {
  ENTER(write, -1)
  ssize_t result = REAL(write)(fd, data, kata_clamp(&verdict, size));
  LEAVE(result, -1)
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  ENTER(writev, -1)
  struct iovec cut[64];
  ssize_t result =
      verdict.action == KATA_FAULT_SHORT
          ? REAL(writev)(fd, cut, kata_clamp_iov(&verdict, iov, count, cut))
          : REAL(writev)(fd, iov, count);
  LEAVE(result, -1)
}

ssize_t send(int fd, const void* data, size_t size, int flags) {
  ENTER(send, -1)
  ssize_t result = REAL(send)(fd, data, kata_clamp(&verdict, size), flags);
  LEAVE(result, -1)
}

ssize_t sendto(int fd, const void* data, size_t size, int flags,
               const struct sockaddr* to, socklen_t length) {
  ENTER(sendto, -1)
  ssize_t result =
      REAL(sendto)(fd, data, kata_clamp(&verdict, size), flags, to, length);
  LEAVE(result, -1)
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
  LEAVE(result, -1)
}

/* --------------------------------------------------------------- waiting */
INTERPOSED(pid_t, wait, (int* status), (status), -1)
INTERPOSED(pid_t, waitpid, (pid_t pid, int* status, int options),
           (pid, status, options), -1)
INTERPOSED(pid_t, wait4,
           (pid_t pid, int* status, int options, struct rusage* usage),
           (pid, status, options, usage), -1)
INTERPOSED(int, waitid, (idtype_t type, id_t id, siginfo_t* info, int options),
           (type, id, info, options), -1)
INTERPOSED(int, poll, (struct pollfd * fds, nfds_t count, int timeout),
           (fds, count, timeout), -1)

int __poll_chk(struct pollfd* fds, nfds_t count, int timeout, size_t room);
int __poll_chk(struct pollfd* fds, nfds_t count, int timeout, size_t room) {
  if (room / sizeof(*fds) < count) {
    return REAL(__poll_chk)(fds, count, timeout, room);
  }
  return poll(fds, count, timeout);
}

INTERPOSED(int, ppoll,
           (struct pollfd * fds, nfds_t count, const struct timespec* timeout,
            const sigset_t* mask),
           (fds, count, timeout, mask), -1)

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
           (count, readable, writable, exceptional, timeout), -1)
INTERPOSED(int, pselect,
           (int count, fd_set* restrict readable, fd_set* restrict writable,
            fd_set* restrict exceptional,
            const struct timespec* restrict timeout,
            const sigset_t* restrict mask),
           (count, readable, writable, exceptional, timeout, mask), -1)
INTERPOSED(int, epoll_wait,
           (int epoll, struct epoll_event* events, int count, int timeout),
           (epoll, events, count, timeout), -1)
INTERPOSED(int, epoll_pwait,
           (int epoll, struct epoll_event* events, int count, int timeout,
            const sigset_t* mask),
           (epoll, events, count, timeout, mask), -1)
INTERPOSED(int, nanosleep,
           (const struct timespec* duration, struct timespec* left),
           (duration, left), -1)
RETURNS_ERROR(clock_nanosleep,
              (clockid_t clock, int flags, const struct timespec* until,
               struct timespec* left),
              (clock, flags, until, left))
INTERPOSED(int, usleep, (useconds_t microseconds), (microseconds), -1)
COUNTED(unsigned, sleep, (unsigned seconds), (seconds))
COUNTED(int, sched_yield, (void), ())

/* --------------------------------------------------------------- signals */
INTERPOSED(int, kill, (pid_t pid, int signal), (pid, signal), -1)
INTERPOSED(int, sigaction,
           (int signal, const struct sigaction* restrict action,
            struct sigaction* restrict old),
           (signal, action, old), -1)
INTERPOSED(__sighandler_t, signal, (int number, __sighandler_t handler),
           (number, handler), SIG_ERR)
INTERPOSED(int, sigprocmask,
           (int how, const sigset_t* restrict set, sigset_t* restrict old),
           (how, set, old), -1)
RETURNS_ERROR(pthread_sigmask,
              (int how, const sigset_t* restrict set, sigset_t* restrict old),
              (how, set, old))
INTERPOSED(int, sigtimedwait,
           (const sigset_t* restrict set, siginfo_t* restrict info,
            const struct timespec* restrict timeout),
           (set, info, timeout), -1)
INTERPOSED(int, sigwaitinfo,
           (const sigset_t* restrict set, siginfo_t* restrict info),
           (set, info), -1)
INTERPOSED(int, sigpending, (sigset_t * set), (set), -1)

/* ------------------------------------------ POSIX names (leak-checked) */
int shm_open(const char* name, int flags, mode_t mode) {
  ENTER(shm_open, -1)
  int fd = REAL(shm_open)(name, flags, mode);
  if (fd >= 0 && (flags & O_CREAT)) kata_record_created('p', name);
  LEAVE(fd, -1)
}

INTERPOSED(int, shm_unlink, (const char* name), (name), -1)

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
  LEAVE(sem, SEM_FAILED)
}

INTERPOSED(int, sem_close, (sem_t * sem), (sem), -1)
INTERPOSED(int, sem_unlink, (const char* name), (name), -1)

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
  LEAVE(queue, (mqd_t)-1)
}

INTERPOSED(int, mq_close, (mqd_t queue), (queue), -1)
INTERPOSED(int, mq_unlink, (const char* name), (name), -1)

/* --------------------------------------------------------- System V IPC */
INTERPOSED(int, msgget, (key_t key, int flags), (key, flags), -1)
INTERPOSED(int, msgsnd, (int id, const void* message, size_t size, int flags),
           (id, message, size, flags), -1)
INTERPOSED(ssize_t, msgrcv,
           (int id, void* message, size_t size, long type, int flags),
           (id, message, size, type, flags), -1)
INTERPOSED(int, msgctl, (int id, int command, struct msqid_ds* buffer),
           (id, command, buffer), -1)
INTERPOSED(int, shmget, (key_t key, size_t size, int flags), (key, size, flags),
           -1)
INTERPOSED(void*, shmat, (int id, const void* address, int flags),
           (id, address, flags), (void*)-1)
INTERPOSED(int, shmdt, (const void* address), (address), -1)
INTERPOSED(int, shmctl, (int id, int command, struct shmid_ds* buffer),
           (id, command, buffer), -1)
INTERPOSED(int, semget, (key_t key, int count, int flags), (key, count, flags),
           -1)
INTERPOSED(int, semop, (int id, struct sembuf* operations, size_t count),
           (id, operations, count), -1)
INTERPOSED(int, semtimedop,
           (int id, struct sembuf* operations, size_t count,
            const struct timespec* timeout),
           (id, operations, count, timeout), -1)

int semctl(int id, int number, int command, ...) {
  va_list list;
  va_start(list, command);
  /* union semun is one word; every command that takes it reads it so. */
  unsigned long argument = va_arg(list, unsigned long);
  va_end(list);
  ENTER(semctl, -1)
  int result = REAL(semctl)(id, number, command, argument);
  LEAVE(result, -1)
}

/* ------------------------------------------------ POSIX message queues */
INTERPOSED(int, mq_send,
           (mqd_t queue, const char* message, size_t size, unsigned priority),
           (queue, message, size, priority), -1)
INTERPOSED(int, mq_timedsend,
           (mqd_t queue, const char* message, size_t size, unsigned priority,
            const struct timespec* deadline),
           (queue, message, size, priority, deadline), -1)
INTERPOSED(ssize_t, mq_receive,
           (mqd_t queue, char* message, size_t size, unsigned* priority),
           (queue, message, size, priority), -1)
INTERPOSED(ssize_t, mq_timedreceive,
           (mqd_t queue, char* restrict message, size_t size,
            unsigned* restrict priority,
            const struct timespec* restrict deadline),
           (queue, message, size, priority, deadline), -1)
INTERPOSED(int, mq_getattr, (mqd_t queue, struct mq_attr* attributes),
           (queue, attributes), -1)
INTERPOSED(int, mq_setattr,
           (mqd_t queue, const struct mq_attr* restrict attributes,
            struct mq_attr* restrict old),
           (queue, attributes, old), -1)
INTERPOSED(int, mq_notify, (mqd_t queue, const struct sigevent* event),
           (queue, event), -1)

/* -------------------------------------- shared memory and semaphores */
INTERPOSED(void*, mmap,
           (void* address, size_t length, int protection, int flags, int fd,
            off_t offset),
           (address, length, protection, flags, fd, offset), MAP_FAILED)
INTERPOSED(int, munmap, (void* address, size_t length), (address, length), -1)
INTERPOSED(int, ftruncate, (int fd, off_t length), (fd, length), -1)
INTERPOSED(int, sem_init, (sem_t * sem, int pshared, unsigned value),
           (sem, pshared, value), -1)
INTERPOSED(int, sem_destroy, (sem_t * sem), (sem), -1)
INTERPOSED(int, sem_wait, (sem_t * sem), (sem), -1)
INTERPOSED(int, sem_timedwait,
           (sem_t* restrict sem, const struct timespec* restrict deadline),
           (sem, deadline), -1)
INTERPOSED(int, sem_clockwait,
           (sem_t* restrict sem, clockid_t clock,
            const struct timespec* restrict deadline),
           (sem, clock, deadline), -1)
INTERPOSED(int, sem_trywait, (sem_t * sem), (sem), -1)
INTERPOSED(int, sem_post, (sem_t * sem), (sem), -1)
INTERPOSED(int, sem_getvalue, (sem_t* restrict sem, int* restrict value),
           (sem, value), -1)

/* -------------------------------------------------------------- sockets */
INTERPOSED(int, bind, (int fd, const struct sockaddr* address, socklen_t size),
           (fd, address, size), -1)
INTERPOSED(int, listen, (int fd, int backlog), (fd, backlog), -1)
INTERPOSED(int, accept,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1)
INTERPOSED(int, accept4,
           (int fd, struct sockaddr* restrict address, socklen_t* restrict size,
            int flags),
           (fd, address, size, flags), -1)
INTERPOSED(int, connect,
           (int fd, const struct sockaddr* address, socklen_t size),
           (fd, address, size), -1)
INTERPOSED(int, shutdown, (int fd, int how), (fd, how), -1)
INTERPOSED(int, setsockopt,
           (int fd, int level, int name, const void* value, socklen_t size),
           (fd, level, name, value, size), -1)
INTERPOSED(int, getsockopt,
           (int fd, int level, int name, void* restrict value,
            socklen_t* restrict size),
           (fd, level, name, value, size), -1)
INTERPOSED(int, getsockname,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1)
INTERPOSED(int, getpeername,
           (int fd, struct sockaddr* restrict address,
            socklen_t* restrict size),
           (fd, address, size), -1)

/* ------------------------------------- threads instead of processes */
RETURNS_ERROR(pthread_create,
              (pthread_t * thread, const pthread_attr_t* attributes,
               void* (*start)(void*), void* argument),
              (thread, attributes, start, argument))
