// ResourceSnapshot: the leak check, taken within a test (resources.h).

#include "tests/support/resources.h"

#include <string>
#include <vector>

#include "tests/support/internal.h"

namespace kata {

struct ResourceSnapshot::State {
  internal::Snapshot before;
};

ResourceSnapshot::ResourceSnapshot()
    : state_(std::make_unique<State>(State{internal::TakeSnapshot()})) {}

ResourceSnapshot::~ResourceSnapshot() = default;

std::string ResourceSnapshot::Leaks() {
  std::string text;
  for (const std::string& leak :
       internal::FindAndCleanLeaksSince(state_->before)) {
    text += (text.empty() ? "" : "; ") + leak;
  }
  state_->before = internal::TakeSnapshot();
  return text;
}

}  // namespace kata
