"""Makes Debian's bazel-rules-cc (0.0.4) usable with Debian's Bazel 4.2.3.

rules_cc 0.0.4 calls use_cpp_toolchain(), which @bazel_tools of Bazel 4.2.3 does
not have yet. This rule copies the Debian package into an external repository and
replaces that call by the label it stands for, so that
load("@rules_cc//cc:defs.bzl", ...) works offline.
"""

_FILES_USING_USE_CPP_TOOLCHAIN = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _debian_rules_cc_impl(rctx):
    source = rctx.path(rctx.attr.path)
    if not source.exists:
        fail("%s is missing: run tools/setup.sh (Debian package bazel-rules-cc)" % source)
    result = rctx.execute(["cp", "-R", str(source) + "/.", "."])
    if result.return_code != 0:
        fail("copying %s failed: %s" % (source, result.stderr))
    for name in _FILES_USING_USE_CPP_TOOLCHAIN:
        text = rctx.read(name)
        text = text.replace(', "use_cpp_toolchain")', ")")
        text = text.replace("use_cpp_toolchain()", '["@bazel_tools//tools/cpp:toolchain_type"]')
        rctx.file(name, text, executable = False)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(default = "/usr/share/bazel/rules/cc")},
    local = True,
)
