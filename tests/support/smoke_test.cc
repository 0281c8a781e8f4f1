#include <gtest/gtest.h>
#include <span>
TEST(Smoke, Works) { std::span<int> s; EXPECT_TRUE(s.empty()); }
int main(int argc, char** argv) { testing::InitGoogleTest(&argc, argv); return RUN_ALL_TESTS(); }
