// Input of tools/mutation/generate_test.py: one or more places for every
// operator of tools/mutate. Never built; only parsed.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

namespace {

template <typename Call>
auto RetryOnEintr(Call call) {
  for (;;) {
    auto result = call();
    if (result >= 0 || errno != EINTR) return result;
  }
}

bool IsTransient(int error) {
  switch (error) {
    case EINTR:
    case EAGAIN:
      return true;
    default:
      return false;
  }
}

}  // namespace

int Sample(int fd, int target, const char* path, char* buffer) {
  int opened = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
  if (opened < 0) return -1;
  int flags = MSG_DONTWAIT;
  if (target > 2 && fd != target) flags |= MSG_NOSIGNAL;
  ssize_t n;
  do {
    n = read(fd, buffer, 16);
  } while (n < 0 && errno == EINTR);
  while (!IsTransient(errno)) {
    if (n == 0) break;
    n = RetryOnEintr([&] { return write(fd, buffer, 1); });
    continue;
  }
  dup2(fd, target);
  pipe2(&opened, O_CLOEXEC);
  char array[8] = {0};
  close(opened);
  int status = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return n > 0 ? flags : array[0];
}

// Comparisons of class types: overloaded operators, and C++20's rewritten
// `!=` (only == is declared for these iterators).
int Count(const std::vector<std::string>& names, const std::string& wanted) {
  int count = 0;
  for (auto it = names.begin(); it != names.end(); ++it) {
    if (*it == wanted) ++count;
  }
  return count;
}

// A condition that starts with a `!` of its own: negating the condition and
// removing the `!` are two mutants at one place.
bool Neither(bool a, bool b) { return !a && !b ? true : a && b; }
