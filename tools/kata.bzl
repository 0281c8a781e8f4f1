"""kata_test: one test source, built against a kata's stub or its solution."""

load("@rules_cc//cc:defs.bzl", "cc_test")

def kata_test(name, srcs, lib, deps = [], **kwargs):
    """A GoogleTest target for one kata, linked with tests/support's main.

    The same test sources (labels into //tests/<topic>) are compiled once per
    implementation: //exercises/<topic> (the learner's stub) and
    //solutions/<topic> (the reference). Never tag these `manual`: a manual
    target drops out of `bazel test //exercises/...`.

    Args:
      name: the test target's name, e.g. "pipe_test".
      srcs: test sources, e.g. ["//tests/pipe:pipe_test.cc"].
      lib: the implementation under test, e.g. ":pipe".
      deps: further dependencies.
      **kwargs: passed on to cc_test (size, timeout, data, ...).
    """
    cc_test(
        name = name,
        srcs = srcs,
        # Static linking puts the support library's interposed libc functions
        # into the binary itself, where they take precedence over libc's.
        linkstatic = True,
        deps = [
            lib,
            "//tests/support",
            "@com_google_googletest//:gtest",
        ] + deps,
        **kwargs
    )
