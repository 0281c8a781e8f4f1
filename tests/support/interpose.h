/* The interposition layer's shared state, seen from C (interpose.c) and from
 * C++ (the rest of the support library). Not for tests: they use kata.h.
 *
 * Every libc function named in KATA_CALL_LIST is defined again by the test
 * binary (interpose.c), so each call the code under test makes lands there
 * first. There it is counted, and, when a test armed a fault, it may fail
 * with a chosen errno, move fewer bytes than asked, or report an error after
 * it was made. The state lives in one MAP_SHARED page mapped before the first
 * test forks, so counts and faults span the runner and its children. */

#ifndef IPC_KATAS_TESTS_SUPPORT_INTERPOSE_H_
#define IPC_KATAS_TESTS_SUPPORT_INTERPOSE_H_

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every interposed function, grouped by what it does. A name here must have a
 * definition in interpose.c (detectors_test proves each counts its own call).
 */
/* One group of calls a line reads better than clang-format's layout. */
/* clang-format off */
#define KATA_CALL_LIST(X)                                                     \
  /* creating processes and channels */                                       \
  X(pipe) X(pipe2) X(fork) X(socketpair) X(socket) X(mkfifo)                  \
  X(posix_spawn) X(posix_spawnp) X(execve) X(execv) X(execvp) X(execvpe)      \
  X(execl) X(execlp)                                                          \
  /* files and descriptors */                                                 \
  X(open) X(openat) X(creat) X(memfd_create) X(eventfd) X(mkstemp)            \
  X(mkostemp) X(tmpfile) X(dup) X(dup2) X(dup3) X(fcntl) X(close)             \
  /* moving bytes */                                                          \
  X(read) X(readv) X(recv) X(recvfrom) X(recvmsg)                             \
  X(write) X(writev) X(send) X(sendto) X(sendmsg)                             \
  /* waiting */                                                               \
  X(wait) X(waitpid) X(wait4) X(waitid) X(poll) X(ppoll) X(select)            \
  X(pselect) X(epoll_wait) X(epoll_pwait) X(nanosleep) X(clock_nanosleep)     \
  X(usleep) X(sleep) X(sched_yield)                                           \
  /* signals */                                                               \
  X(kill) X(sigaction) X(signal) X(sigprocmask) X(pthread_sigmask)            \
  X(sigtimedwait) X(sigwaitinfo) X(sigpending)                                \
  /* POSIX names */                                                           \
  X(shm_open) X(shm_unlink) X(sem_open) X(sem_close) X(sem_unlink)            \
  X(mq_open) X(mq_close) X(mq_unlink)                                         \
  /* System V IPC */                                                          \
  X(msgget) X(msgsnd) X(msgrcv) X(msgctl) X(shmget) X(shmat) X(shmdt)         \
  X(shmctl) X(semget) X(semop) X(semtimedop) X(semctl)                        \
  /* POSIX message queues */                                                  \
  X(mq_send) X(mq_timedsend) X(mq_receive) X(mq_timedreceive)                 \
  X(mq_getattr) X(mq_setattr) X(mq_notify)                                    \
  /* shared memory and semaphores */                                          \
  X(mmap) X(munmap) X(ftruncate) X(sem_init) X(sem_destroy) X(sem_wait)       \
  X(sem_timedwait) X(sem_clockwait) X(sem_trywait) X(sem_post)                \
  X(sem_getvalue)                                                             \
  /* sockets */                                                               \
  X(bind) X(listen) X(accept) X(accept4) X(connect) X(shutdown)               \
  X(setsockopt) X(getsockopt) X(getsockname) X(getpeername)                   \
  /* what a kata must NOT swap in for processes */                            \
  X(pthread_create)                                                           \
  /* the end of a process */                                                  \
  X(_exit)
/* clang-format on */

#define KATA_CALL_ENUM(name) KATA_CALL_##name,
enum { KATA_CALL_LIST(KATA_CALL_ENUM) KATA_NUM_CALLS };
#undef KATA_CALL_ENUM

#define KATA_MAX_CALLS 160
#define KATA_MAX_FAULTS 8

/* What an armed fault does to a call it matches. */
enum {
  KATA_FAULT_FAIL = 1,       /* not made: returns failure with `error` */
  KATA_FAULT_SHORT = 2,      /* made with at most `limit` bytes */
  KATA_FAULT_FAIL_AFTER = 3, /* made, then reported as failing with `error` */
  KATA_FAULT_ALTERNATE = 4,  /* every other matching call in each process
                                fails with `error` (first one first) */
};

struct kata_fault {
  int active;                          /* 0: slot free */
  int mode;                            /* KATA_FAULT_* */
  int error;                           /* errno to report */
  long limit;                          /* bytes, for SHORT */
  long nth;                            /* first matching call hit */
  long times;                          /* calls hit; < 0: all */
  pid_t only_pid;                      /* 0: any process */
  pid_t except_pid;                    /* 0: none excluded */
  unsigned generation;                 /* bumped on each arming */
  unsigned char calls[KATA_MAX_CALLS]; /* 1: this call matches */
  long seen;                           /* matching calls so far */
  long fired;                          /* calls it changed */
};

#define KATA_SANITIZER_PIPES 64

struct kata_interpose_state {
  long calls[KATA_MAX_CALLS]; /* every call, by KATA_CALL_* index */
  int armed;                  /* any fault active */
  struct kata_fault faults[KATA_MAX_FAULTS];
  /* The last process that unblocked SIGPIPE (sigprocmask, pthread_sigmask)
   * while one was pending at its default action: the signal kills it inside
   * that call, and the report of its death says so (child.cc). */
  pid_t sigpipe_unblocked_pid;
  /* Inodes of the pipes that a sanitizer's runtime made in any process of
   * the test (interpose.c): the mechanism watch counts them as the
   * harness's own, not the code under test's. */
  unsigned long sanitizer_pipes[KATA_SANITIZER_PIPES];
  unsigned sanitizer_pipes_next;
};

/* Set once by the runner (runner.cc) before any test runs. */
extern struct kata_interpose_state* kata_interpose;

/* ---------------------------------------------------------------- tracing
 * While a test runs, every interposed call made by the code under test (in
 * any process of the test) is recorded as one event in a ring of
 * KATA_TRACE_CAPACITY events shared across fork: what the call was, its
 * significant arguments, what it returned. Writing an event takes no lock and
 * allocates nothing, so it is safe in a child after fork and in a signal
 * handler; an event is valid once its `seq` is set, which is written last, so
 * a process that dies in the middle of writing one leaves a hole, not
 * garbage. trace.cc turns the events into the timeline a failing test prints.
 */

#define KATA_TRACE_CAPACITY 2048
#define KATA_TRACE_TEXT 32

enum {
  KATA_EVENT_INJECTED = 1,  /* an armed fault changed this call */
  KATA_EVENT_SHORTENED = 2, /* a short-transfer fault cut this call */
  KATA_EVENT_BEFORE = 4,    /* recorded before the call (exec, _exit) */
};

/* Events that are not interposed calls but still belong in a timeline. */
enum {
  KATA_EVENT_EXIT = KATA_MAX_CALLS - 1,  /* exit(), from atexit */
  KATA_EVENT_THROW = KATA_MAX_CALLS - 2, /* a C++ throw (throws.cc) */
  KATA_EVENT_CHECK = KATA_MAX_CALLS - 3, /* a failed check of the test */
};

/* The longer text a throw or a failed check carries (the exception's
 * what(), the check's message): too long for an event, so kept in a ring of
 * its own; the event names its note by number (args[1], 0 for none). */
#define KATA_TRACE_NOTES 64
#define KATA_NOTE_TEXT 240

struct kata_note {
  unsigned long seq; /* 1 + the note's number; 0 while written */
  char text[KATA_NOTE_TEXT];
};

struct kata_event {
  unsigned long seq; /* 1 + its place in the recording; 0 while written */
  long long time_ns; /* CLOCK_MONOTONIC */
  int pid, ppid;
  int call;      /* KATA_CALL_* or KATA_EVENT_* */
  int error;     /* errno (or the error number returned), when failed */
  int flags;     /* KATA_EVENT_* */
  int text_size; /* bytes of text[] used */
  long result;
  long args[4];               /* the call's significant arguments (trace.cc) */
  char text[KATA_TRACE_TEXT]; /* a name, or the first bytes moved */
};

/* The call each process is in, marked when it enters an interposed call and
 * cleared when it returns: a process that died inside a call (SIGPIPE in a
 * send) never records it, and this is what the timeline then shows. One
 * slot per process (its pid modulo the table), best effort: two threads of
 * one process share it, so a thread's call may clear another's mark. */
#define KATA_INFLIGHT 256

struct kata_inflight {
  int pid;
  int call; /* KATA_CALL_*, or -1 when the process is in none */
};

struct kata_trace {
  int recording; /* events are written only while this is 1 */
  int padding;
  unsigned long next; /* events written since recording started */
  struct kata_event events[KATA_TRACE_CAPACITY];
  unsigned long next_note; /* notes written since recording started */
  struct kata_note notes[KATA_TRACE_NOTES];
  struct kata_inflight inflight[KATA_INFLIGHT];
};

/* Set by the runner; 0 turns tracing off (KATA_TRACE=0). */
extern struct kata_trace* kata_trace;

/* Records one event (interpose.c); usable from C++ for events of its own. */
void kata_record(int call, long result, int error, int flags, long a0, long a1,
                 long a2, long a3, const void* text, long size);

/* Records an event that carries a note: a0 goes to args[0], `text` (a type
 * or file name) to the event's text, `note` to the notes ring. */
void kata_record_note(int call, long a0, const char* text, const char* note);

/* The support library's own calls (reading /proc, the watchdog, reporting a
 * child's failures) are neither counted nor failed: they run between
 * kata_bypass_enter() and kata_bypass_leave() on their thread. */
void kata_bypass_enter(void);
void kata_bypass_leave(void);
/* In a new child: its parent's bypass is not its own. */
void kata_bypass_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* IPC_KATAS_TESTS_SUPPORT_INTERPOSE_H_ */
