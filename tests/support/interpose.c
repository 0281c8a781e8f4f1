/* Counts calls to IPC primitives by symbol interposition: the test binary
 * defines these functions, so every call in the process (the code under test
 * included) lands here first, is counted in a page shared with forked
 * children, and is passed on to the C library's definition (RTLD_NEXT).
 * Written in C because C++ sees glibc's declarations with noexcept. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdarg.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by the C++ side (main) once the shared page exists; indices follow
 * kCountedCalls in internal.h. */
long* kata_call_counters = 0;

static void count(int index) {
  if (kata_call_counters)
    __atomic_add_fetch(&kata_call_counters[index], 1, __ATOMIC_RELAXED);
}

/* Defined in runner.cc: remembers a created IPC name for the leak check. */
void kata_record_created(char kind, const char* name);

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int pipe(int fds[2]) {
  count(0);
  return NEXT(pipe)(fds);
}

int pipe2(int fds[2], int flags) {
  count(1);
  return NEXT(pipe2)(fds, flags);
}

pid_t fork(void) {
  count(2);
  return NEXT(fork)();
}

int socketpair(int domain, int type, int protocol, int fds[2]) {
  count(3);
  return NEXT(socketpair)(domain, type, protocol, fds);
}

int socket(int domain, int type, int protocol) {
  count(4);
  return NEXT(socket)(domain, type, protocol);
}

int mkfifo(const char* path, mode_t mode) {
  count(5);
  return NEXT(mkfifo)(path, mode);
}

int shm_open(const char* name, int flags, mode_t mode) {
  count(6);
  int fd = NEXT(shm_open)(name, flags, mode);
  if (fd >= 0 && (flags & O_CREAT)) kata_record_created('p', name);
  return fd;
}

sem_t* sem_open(const char* name, int flags, ...) {
  count(7);
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode_t mode = va_arg(args, mode_t);
    unsigned value = va_arg(args, unsigned);
    va_end(args);
    sem_t* sem = NEXT(sem_open)(name, flags, mode, value);
    if (sem != SEM_FAILED) kata_record_created('s', name);
    return sem;
  }
  return NEXT(sem_open)(name, flags);
}

mqd_t mq_open(const char* name, int flags, ...) {
  count(8);
  if (flags & O_CREAT) {
    va_list args;
    va_start(args, flags);
    mode_t mode = va_arg(args, mode_t);
    struct mq_attr* attr = va_arg(args, struct mq_attr*);
    va_end(args);
    mqd_t queue = NEXT(mq_open)(name, flags, mode, attr);
    if (queue != (mqd_t)-1) kata_record_created('m', name);
    return queue;
  }
  return NEXT(mq_open)(name, flags);
}

int msgget(key_t key, int flags) {
  count(9);
  return NEXT(msgget)(key, flags);
}
