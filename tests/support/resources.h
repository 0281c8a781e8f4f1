// File: tests/support/resources.h
// -----------------------------------------------------------------------------
//
// What a test's process holds: descriptors, children, shared mappings,
// threads, IPC objects and socket files. The leak check compares them before
// and after every test; a ResourceSnapshot does the same within a test, for
// example after each injected failure of ForEachInjectedFailure:
//
//   kata::ResourceSnapshot before;
//   EXPECT_THROW(kata::pipe::RunCommand({"cat"}, "x"), std::system_error);
//   EXPECT_EQ(before.Leaks(), "") << "after " << fault->ToString();

#ifndef IPC_KATAS_TESTS_SUPPORT_RESOURCES_H_
#define IPC_KATAS_TESTS_SUPPORT_RESOURCES_H_

#include <memory>
#include <string>

namespace kata {

class ResourceSnapshot {
 public:
  ResourceSnapshot();
  ~ResourceSnapshot();
  ResourceSnapshot(const ResourceSnapshot&) = delete;
  ResourceSnapshot& operator=(const ResourceSnapshot&) = delete;

  // What was opened, started or created since the snapshot and is still
  // there, one "; "-separated clause each ("" if nothing). Each leak is
  // cleaned up (closed, killed and reaped, removed), so a loop of runs starts
  // each run clean.
  std::string Leaks();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kata

#endif  // IPC_KATAS_TESTS_SUPPORT_RESOURCES_H_
