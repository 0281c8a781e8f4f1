/* Counts calls to IPC primitives by symbol interposition: the test binary
 * defines these functions, so every call in the process (the code under test
 * included) lands here first, is counted in a page shared with forked
 * children, and is passed on to the C library's definition (RTLD_NEXT).
 * Written in C because C++ sees glibc's declarations with noexcept. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Indices into the counters; the order matches kCountedCalls in internal.h
 * (detectors_test checks that each name counts its own call). */
enum {
  KATA_CALL_pipe,
  KATA_CALL_pipe2,
  KATA_CALL_fork,
  KATA_CALL_socketpair,
  KATA_CALL_socket,
  KATA_CALL_mkfifo,
  KATA_CALL_shm_open,
  KATA_CALL_sem_open,
  KATA_CALL_mq_open,
  KATA_CALL_msgget,
  KATA_CALL_msgsnd,
  KATA_CALL_msgrcv,
  KATA_CALL_msgctl,
  KATA_CALL_mq_send,
  KATA_CALL_mq_timedsend,
  KATA_CALL_mq_receive,
  KATA_CALL_mq_timedreceive,
  KATA_CALL_mq_unlink,
  KATA_CALL_shm_unlink,
  KATA_CALL_mmap,
  KATA_CALL_ftruncate,
  KATA_CALL_sem_init,
  KATA_CALL_sem_wait,
  KATA_CALL_sem_timedwait,
  KATA_CALL_sem_trywait,
  KATA_CALL_sem_post,
  KATA_CALL_sem_unlink,
  KATA_CALL_shmget,
  KATA_CALL_semget,
  KATA_CALL_bind,
  KATA_CALL_listen,
  KATA_CALL_accept,
  KATA_CALL_accept4,
  KATA_CALL_connect,
  KATA_CALL_shutdown,
  KATA_CALL_send,
  KATA_CALL_recv,
  KATA_CALL_sendmsg,
  KATA_CALL_recvmsg,
  KATA_CALL_pthread_create,
};

/* Set by the C++ side (main) once the shared page exists. */
long* kata_call_counters = 0;

static void count_call(int index) {
  if (kata_call_counters)
    __atomic_add_fetch(&kata_call_counters[index], 1, __ATOMIC_RELAXED);
}

/* Defined in runner.cc: remembers a created IPC name for the leak check. */
void kata_record_created(char kind, const char* name);

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* Counts a call and forwards it unchanged to the C library. */
#define COUNTED(ret, name, params, args) \
  ret name params {                      \
    count_call(KATA_CALL_##name);        \
    return NEXT(name) args;              \
  }

/* ---------------------------------------------------------------- pipe */
COUNTED(int, pipe, (int fds[2]), (fds))
COUNTED(int, pipe2, (int fds[2], int flags), (fds, flags))
COUNTED(pid_t, fork, (void), ())
COUNTED(int, socketpair, (int domain, int type, int protocol, int fds[2]),
        (domain, type, protocol, fds))
COUNTED(int, socket, (int domain, int type, int protocol),
        (domain, type, protocol))
COUNTED(int, mkfifo, (const char* path, mode_t mode), (path, mode))

/* ------------------------------------------- POSIX names (leak-checked) */
int shm_open(const char* name, int flags, mode_t mode) {
  count_call(KATA_CALL_shm_open);
  int fd = NEXT(shm_open)(name, flags, mode);
  if (fd >= 0 && (flags & O_CREAT)) kata_record_created('p', name);
  return fd;
}

sem_t* sem_open(const char* name, int flags, ...) {
  count_call(KATA_CALL_sem_open);
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
  count_call(KATA_CALL_mq_open);
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

/* ----------------------------------------------- System V message queues */
COUNTED(int, msgget, (key_t key, int flags), (key, flags))
COUNTED(int, msgsnd, (int id, const void* message, size_t size, int flags),
        (id, message, size, flags))
COUNTED(ssize_t, msgrcv,
        (int id, void* message, size_t size, long type, int flags),
        (id, message, size, type, flags))
COUNTED(int, msgctl, (int id, int command, struct msqid_ds* buffer),
        (id, command, buffer))

/* ------------------------------------------------ POSIX message queues */
COUNTED(int, mq_send,
        (mqd_t queue, const char* message, size_t size, unsigned priority),
        (queue, message, size, priority))
COUNTED(int, mq_timedsend,
        (mqd_t queue, const char* message, size_t size, unsigned priority,
         const struct timespec* deadline),
        (queue, message, size, priority, deadline))
COUNTED(ssize_t, mq_receive,
        (mqd_t queue, char* message, size_t size, unsigned* priority),
        (queue, message, size, priority))
COUNTED(ssize_t, mq_timedreceive,
        (mqd_t queue, char* message, size_t size, unsigned* priority,
         const struct timespec* deadline),
        (queue, message, size, priority, deadline))
COUNTED(int, mq_unlink, (const char* name), (name))

/* -------------------------------------- shared memory and semaphores */
COUNTED(int, shm_unlink, (const char* name), (name))
COUNTED(void*, mmap,
        (void* address, size_t length, int protection, int flags, int fd,
         off_t offset),
        (address, length, protection, flags, fd, offset))
COUNTED(int, ftruncate, (int fd, off_t length), (fd, length))
COUNTED(int, sem_init, (sem_t * sem, int pshared, unsigned value),
        (sem, pshared, value))
COUNTED(int, sem_wait, (sem_t * sem), (sem))
COUNTED(int, sem_timedwait, (sem_t * sem, const struct timespec* deadline),
        (sem, deadline))
COUNTED(int, sem_trywait, (sem_t * sem), (sem))
COUNTED(int, sem_post, (sem_t * sem), (sem))
COUNTED(int, sem_unlink, (const char* name), (name))
COUNTED(int, shmget, (key_t key, size_t size, int flags), (key, size, flags))
COUNTED(int, semget, (key_t key, int semaphores, int flags),
        (key, semaphores, flags))

/* -------------------------------------------------------------- sockets */
COUNTED(int, bind, (int fd, const struct sockaddr* address, socklen_t size),
        (fd, address, size))
COUNTED(int, listen, (int fd, int backlog), (fd, backlog))
COUNTED(int, accept, (int fd, struct sockaddr* address, socklen_t* size),
        (fd, address, size))
COUNTED(int, accept4,
        (int fd, struct sockaddr* address, socklen_t* size, int flags),
        (fd, address, size, flags))
COUNTED(int, connect, (int fd, const struct sockaddr* address, socklen_t size),
        (fd, address, size))
COUNTED(int, shutdown, (int fd, int how), (fd, how))
COUNTED(ssize_t, send, (int fd, const void* data, size_t size, int flags),
        (fd, data, size, flags))
COUNTED(ssize_t, recv, (int fd, void* data, size_t size, int flags),
        (fd, data, size, flags))
COUNTED(ssize_t, sendmsg, (int fd, const struct msghdr* message, int flags),
        (fd, message, flags))
COUNTED(ssize_t, recvmsg, (int fd, struct msghdr* message, int flags),
        (fd, message, flags))

/* ------------------------------------- threads instead of processes */
COUNTED(int, pthread_create,
        (pthread_t * thread, const pthread_attr_t* attributes,
         void* (*start)(void*), void* argument),
        (thread, attributes, start, argument))
