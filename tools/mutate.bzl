"""kata_test for mutant packages: the test cases compiled once per topic.

A mutant package is a copy of solutions/<topic> with one edit (tools/mutate,
and the gate's mutants of tests/<topic>/mutants/). Built with kata.bzl, every
copy would compile the topic's large test source again, although only the
solution's .cc changed. In a copy, the BUILD file's

    load("//tools:kata.bzl", "kata_test")

is replaced by one of

    load("//tools:mutate.bzl", kata_test = "mutant_cases")  # <dir>/cases
    load("//tools:mutate.bzl", kata_test = "mutant_test")   # <dir>/<mutant>

so the `kata_test(...)` call of the copy in <dir>/cases compiles the test
sources once, against the solution's headers alone, and the call in each
mutant's copy links that library with the mutant's own build of the solution.
The test binary is the same program kata_test builds: same sources, same
support library, same flags.
"""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")

_SUPPORT = [
    "//tests/support",
    "@com_google_googletest//:gtest",
]

def mutant_cases(
        name,
        srcs,
        lib,
        deps = [],
        **kwargs):  # @unused (size and the like belong to the test)
    """The test sources of a kata_test, compiled once (in <dir>/cases).

    Args:
      name: the kata_test's name, e.g. "pipe_test": the library's name.
      srcs: the test sources, e.g. ["//tests/pipe:pipe_test.cc"].
      lib: the solution's library (declared above in the same BUILD file);
        only its headers are used.
      deps: further dependencies of the test.
      **kwargs: the kata_test's other attributes (size, ...): unused here.
    """
    api = native.existing_rule(lib.lstrip(":"))
    cc_library(
        name = name + "_api",
        testonly = True,
        hdrs = api["hdrs"],
        include_prefix = api["include_prefix"],
    )
    cc_library(
        name = name,
        testonly = True,
        srcs = srcs,
        visibility = ["//visibility:public"],
        deps = [":" + name + "_api"] + _SUPPORT + deps,
        # The test cases register themselves; nothing names them.
        alwayslink = True,
    )

def mutant_test(
        name,
        srcs,  # @unused (compiled once in <dir>/cases)
        lib,
        deps = [],
        **kwargs):
    """A kata_test whose test cases come from the sibling package `cases`.

    Args:
      name: the test target's name, e.g. "pipe_test".
      srcs: the test sources: already compiled in <dir>/cases.
      lib: the (mutated) solution's library.
      deps: further dependencies.
      **kwargs: passed on to cc_test (size, timeout, data, ...).
    """
    parent = native.package_name().rpartition("/")[0]
    cc_test(
        name = name,
        # As in kata_test: the support library's interposed libc functions
        # must be in the binary itself.
        linkstatic = True,
        # The test cases first: a static link takes from the solution's
        # archive only what the objects before it asked for.
        deps = [
            "//%s/cases:%s" % (parent, name),
            lib,
        ] + _SUPPORT + deps,
        **kwargs
    )
