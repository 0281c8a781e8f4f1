// The leak check run after every test: what the test opened or started and
// did not give back. Each leak is reported with the call that was forgotten,
// then cleaned up so that the next test starts from a clean slate.

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata::internal {
namespace {

Snapshot g_before;

std::set<std::string> ListDir(const std::string& path) {
  std::set<std::string> names;
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(dir);
  return names;
}

std::string OurTag() { return RunTag(); }

// Shared mappings of IPC objects in this process, as "/dev/shm/x (7f..-7f..)":
// POSIX segments and semaphores in /dev/shm, System V segments (/SYSV...).
// Anonymous shared memory is the support library's own (SharedText).
// Unmaps a mapping named as SharedMappings() names it.
void Unmap(const std::string& mapping) {
  std::size_t open = mapping.rfind('(');
  unsigned long start = 0, end = 0;
  if (open == std::string::npos ||
      std::sscanf(mapping.c_str() + open, "(%lx-%lx)", &start, &end) != 2) {
    return;
  }
  munmap(reinterpret_cast<void*>(start), end - start);
}

std::set<std::string> SharedMappings() {
  std::set<std::string> found;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::size_t path = line.find('/');
    if (path == std::string::npos) continue;
    std::string name = line.substr(path);
    if (name.rfind("/dev/shm/", 0) != 0 && name.rfind("/SYSV", 0) != 0) {
      continue;
    }
    found.insert(name + " (" + line.substr(0, line.find(' ')) + ")");
  }
  return found;
}

// Socket files: anything of type socket in TEST_TMPDIR (private to this
// target), and this run's names in /tmp (where UniqueSocketPath puts them).
std::set<std::string> SocketFiles() {
  std::set<std::string> found;
  auto scan = [&](const std::string& dir, bool ours_only) {
    for (const std::string& name : ListDir(dir)) {
      if (ours_only && name.find(OurTag()) == std::string::npos) continue;
      std::string path = dir + "/" + name;
      struct stat st;
      if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
        found.insert(path);
      }
    }
  };
  if (const char* tmp = std::getenv("TEST_TMPDIR")) scan(tmp, false);
  scan("/tmp", true);
  return found;
}

// One entry per System V object as "msg <id> <key> <pids...>".
std::set<std::string> SysvObjects() {
  std::set<std::string> found;
  for (const char* kind : {"msg", "shm", "sem"}) {
    std::ifstream in(std::string("/proc/sysvipc/") + kind);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream row(line);
      long key = 0, id = 0;
      row >> key >> id;
      found.insert(std::string(kind) + " " + std::to_string(id) + " " +
                   std::to_string(key) + " |" + line);
    }
  }
  return found;
}

bool IsOurSysvObject(const std::string& entry) {
  std::istringstream row(entry);
  std::string kind;
  long id = 0, key = 0;
  row >> kind >> id >> key;
  if (key != 0 && (static_cast<unsigned long>(key) >> 8) == RunId()) {
    return true;
  }
  // IPC_PRIVATE objects carry no name; the pid columns (creator for shm, last
  // sender/receiver for msg) tell whether this run touched them.
  std::string columns = entry.substr(entry.find('|') + 1);
  std::istringstream fields(columns);
  std::vector<long> values;
  long value;
  while (fields >> value) values.push_back(value);
  std::vector<std::size_t> pid_columns;
  if (kind == "msg") pid_columns = {5, 6};
  if (kind == "shm") pid_columns = {4, 5};
  for (std::size_t column : pid_columns) {
    if (column < values.size() && values[column] == RunnerPid()) return true;
  }
  return false;
}

// "msg 3" for an entry of SysvObjects(): its other columns change over time.
std::string SysvId(const std::string& entry) {
  return entry.substr(0, entry.find(' ', entry.find(' ') + 1));
}

void RemoveSysv(const std::string& entry) {
  std::istringstream row(entry);
  std::string kind;
  int id = 0;
  row >> kind >> id;
  if (kind == "msg") msgctl(id, IPC_RMID, nullptr);
  if (kind == "shm") shmctl(id, IPC_RMID, nullptr);
  if (kind == "sem") semctl(id, 0, IPC_RMID);
}

// Whether the IPC object `name` of `kind` ('p' shm, 's' sem, 'm' mq) exists.
bool NamedObjectExists(char kind, const char* name) {
  if (kind == 'p') {
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd >= 0) close(fd);
    return fd >= 0;
  }
  if (kind == 's') {
    sem_t* sem = sem_open(name, 0);
    if (sem != SEM_FAILED) sem_close(sem);
    return sem != SEM_FAILED;
  }
  mqd_t queue = mq_open(name, O_RDONLY);
  if (queue != static_cast<mqd_t>(-1)) mq_close(queue);
  return queue != static_cast<mqd_t>(-1);
}

// A child that was never reaped may still be on its way out when the test
// ends (on a loaded machine, exiting takes a few milliseconds). Give such
// children a moment, so the report says "zombie: nobody reaped it" (the real
// mistake) rather than "still running". A child that is truly stuck costs at
// most this grace period.
void WaitForChildrenToSettle(const std::vector<pid_t>& children) {
  const auto grace =
      std::chrono::milliseconds(static_cast<long>(300 * TimeScale()));
  const auto until = std::chrono::steady_clock::now() + grace;
  for (pid_t pid : children) {
    ProcInfo info;
    while (ReadProc(pid, &info) && info.state != 'Z' &&
           std::chrono::steady_clock::now() < until) {
      usleep(2000);
    }
  }
}

}  // namespace

Snapshot TakeSnapshot() {
  Bypass quiet;
  Snapshot before;
  for (const FdInfo& fd : FdsOf(getpid())) before.fds.insert(fd.fd);
  for (pid_t pid : ChildrenOf(getpid())) before.children.insert(pid);
  before.shm = ListDir("/dev/shm");
  before.mqueue = ListDir("/dev/mqueue");
  for (const std::string& entry : SysvObjects()) {
    before.sysv.insert(SysvId(entry));
  }
  before.sockets = SocketFiles();
  before.mappings = SharedMappings();
  before.threads = ListDir("/proc/self/task").size();
  before.created = std::min(Shared().created_count.load(), 64);
  return before;
}

void TakeLeakSnapshot() {
  Shared().created_count = 0;
  g_before = TakeSnapshot();
}

std::vector<std::string> FindAndCleanLeaks(bool close_descriptors) {
  return FindAndCleanLeaksSince(g_before, close_descriptors);
}

std::vector<std::string> FindAndCleanLeaksSince(const Snapshot& before,
                                                bool close_descriptors) {
  Bypass quiet;
  std::vector<std::string> leaks;
  pid_t runner = getpid();

  for (const FdInfo& fd : FdsOf(runner)) {
    if (before.fds.count(fd.fd)) continue;
    leaks.push_back(DescribeFd(fd) +
                    " was opened during the test and is still open: close() "
                    "it on every path, error paths included (an RAII Fd does "
                    "this for you)");
    if (close_descriptors) close(fd.fd);
  }

  std::vector<pid_t> children;
  for (pid_t pid : ChildrenOf(runner)) {
    if (!before.children.count(pid)) children.push_back(pid);
  }
  WaitForChildrenToSettle(children);
  for (pid_t pid : children) {
    ProcInfo info;
    if (!ReadProc(pid, &info)) continue;
    if (info.state == 'Z') {
      leaks.push_back("child pid " + std::to_string(pid) + " (" + info.comm +
                      ") is a zombie: it ended but nobody reaped it; call "
                      "waitpid() for every child you fork");
    } else {
      leaks.push_back("child pid " + std::to_string(pid) + " (" + info.comm +
                      ") is still running at the end of the test (" +
                      StateName(info.state) + ", waiting in " + info.wchan +
                      "); every child must end and be reaped with waitpid()");
    }
  }
  for (pid_t pid : children) {
    for (pid_t descendant : DescendantsOf(pid)) kill(descendant, SIGKILL);
    kill(pid, SIGKILL);
  }
  // Reap them all (orphaned grandchildren come to us: we are a subreaper).
  for (pid_t pid : children) waitpid(pid, nullptr, 0);
  if (before.children.empty()) {
    while (waitpid(-1, nullptr, 0) > 0) {
    }
  }

  for (const std::string& mapping : SharedMappings()) {
    if (before.mappings.count(mapping)) continue;
    leaks.push_back("shared mapping " + mapping +
                    " is still mapped: munmap() (or shmdt()) it when done, "
                    "on error paths too");
    Unmap(mapping);
  }
  const std::size_t threads = ListDir("/proc/self/task").size();
  if (threads > before.threads) {
    leaks.push_back(std::to_string(threads - before.threads) +
                    " thread(s) started during the test are still running: "
                    "a kata about processes must not start threads, and a "
                    "thread must be joined before the call returns");
  }

  std::set<std::string> reported;
  SharedPage& page = Shared();
  int created = std::min(page.created_count.load(), 64);
  for (int i = before.created; i < created; ++i) {
    char kind = page.created_kind[i];
    std::string name = page.created_names[i];
    if (reported.count(kind + name) || !NamedObjectExists(kind, name.c_str())) {
      continue;
    }
    reported.insert(kind + name);
    const char* remove = kind == 'p'   ? "shm_unlink()"
                         : kind == 's' ? "sem_unlink()"
                                       : "mq_unlink()";
    const char* what = kind == 'p'   ? "shared memory object "
                       : kind == 's' ? "named semaphore "
                                     : "POSIX message queue ";
    leaks.push_back(std::string(what) + name + " was left behind: " + remove +
                    " it when the last user is done");
    if (kind == 'p') shm_unlink(name.c_str());
    if (kind == 's') sem_unlink(name.c_str());
    if (kind == 'm') mq_unlink(name.c_str());
  }

  std::string tag = OurTag();
  for (const std::string& name : ListDir("/dev/shm")) {
    if (before.shm.count(name) || name.find(tag) == std::string::npos) {
      continue;
    }
    bool semaphore = name.rfind("sem.", 0) == 0;
    leaks.push_back("/dev/shm/" + name + " was left behind: " +
                    (semaphore ? "sem_unlink()" : "shm_unlink()") +
                    " it when the last user is done");
    unlink(("/dev/shm/" + name).c_str());
  }
  for (const std::string& name : ListDir("/dev/mqueue")) {
    if (before.mqueue.count(name) || name.find(tag) == std::string::npos) {
      continue;
    }
    leaks.push_back("/dev/mqueue/" + name +
                    " was left behind: mq_unlink() it when the queue's owner "
                    "is done");
    mq_unlink(("/" + name).c_str());
  }
  for (const std::string& entry : SysvObjects()) {
    if (before.sysv.count(SysvId(entry)) || !IsOurSysvObject(entry)) {
      continue;
    }
    std::istringstream row(entry);
    std::string kind, id;
    row >> kind >> id;
    leaks.push_back("System V " + kind + " id " + id +
                    " was left behind (see ipcs): remove it with " +
                    (kind == "msg"   ? "msgctl"
                     : kind == "shm" ? "shmctl"
                                     : "semctl") +
                    "(IPC_RMID)");
    RemoveSysv(entry);
  }
  for (const std::string& path : SocketFiles()) {
    if (before.sockets.count(path)) continue;
    leaks.push_back("socket file " + path +
                    " was left behind: unlink() it when the server closes");
    unlink(path.c_str());
  }
  return leaks;
}

}  // namespace kata::internal
