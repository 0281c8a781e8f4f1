// Hint lines and the stage registry.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/internal.h"
#include "tests/support/kata.h"

namespace kata {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<internal::Stage> stages;  // in registration order
};

Registry& Stages() {
  static Registry registry;
  return registry;
}

}  // namespace

std::string Hint(std::string_view advice, std::string_view where) {
  std::string line = "\nhint: " + std::string(advice);
  if (!where.empty()) line += " (read " + std::string(where) + ")";
  return line;
}

bool RegisterStage(std::string_view suite, std::string_view title,
                   std::string_view where) {
  Registry& registry = Stages();
  std::lock_guard<std::mutex> lock(registry.mutex);
  registry.stages.push_back(
      {std::string(suite), std::string(title), std::string(where)});
  return true;
}

namespace internal {

const Stage* FindStage(std::string_view suite) {
  // A typed or parameterized suite ("Stage7RealClients/Tcp") is its stage's.
  suite = suite.substr(0, suite.find('/'));
  Registry& registry = Stages();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (const Stage& stage : registry.stages) {
    if (stage.suite == suite) return &stage;
  }
  return nullptr;
}

std::vector<Stage> AllStages() {
  Registry& registry = Stages();
  std::lock_guard<std::mutex> lock(registry.mutex);
  return registry.stages;
}

}  // namespace internal
}  // namespace kata
