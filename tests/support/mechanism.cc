// Descriptor kinds from /proc and the mechanism watch (mechanism.h).

#include "tests/support/mechanism.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

constexpr long kMqueueMagic = 0x19800202;

std::string ReadLink(const std::string& path) {
  char buffer[512];
  ssize_t n = readlink(path.c_str(), buffer, sizeof(buffer) - 1);
  return n < 0 ? "" : std::string(buffer, static_cast<std::size_t>(n));
}

// Whether /proc/net/<table> lists socket inode `inode` (the inode column is
// the 7th in unix, the 10th in tcp/udp).
bool TableHasInode(const std::string& table, const std::string& inode) {
  std::ifstream in("/proc/net/" + table);
  const int column = table == "unix" ? 7 : 10;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    for (int i = 1; i <= column && fields >> field; ++i) {
    }
    if (field == inode) return true;
  }
  return false;
}

std::string SocketKind(const std::string& link, const std::string& target) {
  // The kernel names a socket's protocol in this attribute ("UNIX", "TCP",
  // "TCPv6", "UDP", ...), for any socket, bound or not.
  char protocol[32] = {};
  ssize_t n = getxattr(link.c_str(), "system.sockprotoname", protocol,
                       sizeof(protocol) - 1);
  if (n > 0) {
    std::string name(protocol, static_cast<std::size_t>(n));
    if (name.rfind("UNIX", 0) == 0) return "unix-socket";
    if (name.rfind("TCP", 0) == 0) return "tcp-socket";
    if (name.rfind("UDP", 0) == 0) return "udp-socket";
    return "socket";
  }
  std::string inode = target.substr(8, target.size() - 9);  // socket:[N]
  if (TableHasInode("unix", inode)) return "unix-socket";
  if (TableHasInode("tcp", inode) || TableHasInode("tcp6", inode)) {
    return "tcp-socket";
  }
  if (TableHasInode("udp", inode) || TableHasInode("udp6", inode)) {
    return "udp-socket";
  }
  return "socket";
}

std::string KindOf(const std::string& link, const std::string& target) {
  if (target.empty()) return "?";
  if (target.rfind("pipe:", 0) == 0) return "pipe";
  if (target.rfind("socket:", 0) == 0) return SocketKind(link, target);
  if (target.rfind("anon_inode:", 0) == 0) {
    if (target.find("eventfd") != std::string::npos) return "eventfd";
    if (target.find("signalfd") != std::string::npos) return "signalfd";
    if (target.find("eventpoll") != std::string::npos) return "epoll";
    if (target.find("timerfd") != std::string::npos) return "timerfd";
    return "anon";
  }
  if (target.rfind("/memfd:", 0) == 0) return "memfd";
  struct stat st{};
  if (stat(link.c_str(), &st) != 0) return "?";
  if (S_ISFIFO(st.st_mode)) return "fifo";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "device";
  if (S_ISSOCK(st.st_mode)) return "socket";
  if (S_ISDIR(st.st_mode)) return "directory";
  struct statfs fs{};
  if (statfs(link.c_str(), &fs) == 0 && fs.f_type == kMqueueMagic) {
    return "mqueue";
  }
  if (target.rfind("/dev/shm/", 0) == 0) return "shm";
  return "file";
}

std::vector<pid_t> ChildrenOfProcess(pid_t pid) {
  std::vector<pid_t> children;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) return children;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(tasks + "/" + entry->d_name + "/children");
    pid_t child;
    while (in >> child) children.push_back(child);
  }
  closedir(dir);
  return children;
}

// The runner and every descendant, from /proc/<pid>/task/*/children.
std::vector<pid_t> ProcessTree() {
  std::vector<pid_t> tree = {RunnerPid()};
  for (std::size_t i = 0; i < tree.size() && tree.size() < 4096; ++i) {
    for (pid_t child : ChildrenOfProcess(tree[i])) tree.push_back(child);
  }
  return tree;
}

// Calls `visit(pid, fd, link, target)` for each descriptor of each process.
template <typename Visit>
void ForEachDescriptor(const std::vector<pid_t>& pids, Visit visit) {
  for (pid_t pid : pids) {
    const std::string base = "/proc/" + std::to_string(pid) + "/fd";
    DIR* dir = opendir(base.c_str());
    if (dir == nullptr) continue;
    const int own = pid == getpid() ? dirfd(dir) : -1;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      const int fd = std::atoi(entry->d_name);
      if (fd == own) continue;
      const std::string link = base + "/" + entry->d_name;
      visit(pid, fd, link, ReadLink(link));
    }
    closedir(dir);
  }
}

bool Ignored(const std::string& target) {
  return target.empty() || target.rfind("/proc/", 0) == 0 ||
         internal::IsSupportObject(target);
}

}  // namespace

std::string DescriptorKind(pid_t pid, int fd) {
  internal::Bypass quiet;
  const std::string link =
      "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
  return KindOf(link, ReadLink(link));
}

// ---------------------------------------------------------- MechanismWatch

MechanismWatch::MechanismWatch() {
  internal::Bypass quiet;
  ForEachDescriptor(ProcessTree(), [&](pid_t, int, const std::string&,
                                       const std::string& target) {
    at_start_.insert(target);
  });
  sampler_ = std::thread([this] { Run(); });
}

MechanismWatch::~MechanismWatch() { Stop(); }

void MechanismWatch::Stop() {
  if (!sampler_.joinable()) return;
  stop_ = true;
  sampler_.join();
  SampleOnce();  // what is still open now counts too
}

void MechanismWatch::Run() {
  kata_bypass_enter();  // this whole thread is the support library's
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  while (!stop_) {
    SampleOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void MechanismWatch::SampleOnce() {
  internal::Bypass quiet;
  ForEachDescriptor(ProcessTree(), [&](pid_t pid, int, const std::string& link,
                                       const std::string& target) {
    if (at_start_.count(target) || Ignored(target)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = seen_.find(target);
    if (found != seen_.end()) {
      found->second.pids.insert(pid);
      return;
    }
    std::string kind = KindOf(link, target);
    if (kind == "?" || kind == "directory") return;
    seen_[target] = Seen{kind, {pid}};
  });
}

std::map<std::string, std::set<pid_t>> MechanismWatch::Kinds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::set<pid_t>> kinds;
  for (const auto& [target, seen] : seen_) {
    if (internal::IsSupportObject(target)) continue;
    kinds[seen.kind].insert(seen.pids.begin(), seen.pids.end());
  }
  return kinds;
}

std::string MechanismWatch::Describe() const {
  std::map<std::string, std::string> examples;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [target, seen] : seen_) {
      if (internal::IsSupportObject(target)) continue;
      examples.emplace(seen.kind, "pid " + std::to_string(*seen.pids.begin()) +
                                      ": " + target);
    }
  }
  std::string text;
  for (const auto& [kind, pids] : Kinds()) {
    text += (text.empty() ? "" : "; ") + kind + " (e.g. " + examples[kind] +
            ", " + std::to_string(pids.size()) + " process" +
            (pids.size() == 1 ? "" : "es") + ")";
  }
  return text.empty() ? "no new descriptors" : text;
}

void ExpectOnlyMechanism(MechanismWatch& watch,
                         std::initializer_list<std::string_view> allowed,
                         std::string_view mechanism) {
  watch.Stop();
  std::string others;
  for (const auto& [kind, pids] : watch.Kinds()) {
    bool fine = kind == "device";
    for (std::string_view ok : allowed) fine = fine || kind == ok;
    if (!fine) others += (others.empty() ? "" : ", ") + kind;
  }
  EXPECT_EQ(others, "")
      << "this kata asks for " << mechanism
      << ", but the processes of this call also opened descriptors of another "
         "kind: "
      << watch.Describe()
      << Hint("move the data with " + std::string(mechanism) +
              " only: no socketpair, temporary file or other channel on the "
              "side");
}

}  // namespace kata
