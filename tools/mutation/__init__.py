"""The mutation tool behind tools/mutate (docs/mutation.md).

generate.py  mutants of solutions/<topic>/*.cc, found with libclang
lists.py     tests/<topic>/mutants/equivalent.txt and sample.txt
run.py       mutant packages under mutate_out/ and one Bazel run for all
"""
