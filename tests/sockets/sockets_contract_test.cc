// Tests of the sockets kata by class: every public function where a class
// applies (DESIGN.md section 6a). Built, like sockets_test.cc, against the
// learner's stub and against the reference solution.

#include "gtest/gtest.h"
#include "sockets/sockets.h"
#include "tests/sockets/sockets_test_util.h"
#include "tests/support/kata.h"

namespace {

using namespace sockets_test;  // NOLINT: the tests' shared vocabulary

}  // namespace
