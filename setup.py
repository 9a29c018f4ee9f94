"""setup.py for Beam's --setup_file (Dataflow and portable workers) and the project's one C
module; metadata is in setup.cfg."""
from setuptools import Extension, setup

setup(
    # The rule stages' text statistics (words from tokens, Gopher word n-gram fractions):
    # stages/_textstats.c, plain C against the CPython API. Optional: without a C compiler the
    # install still succeeds and stages/text.py and stages/repetition.py use their pure
    # Python/NumPy reference implementations (the same results, ~2.8x the rules' CPU time);
    # tests/test_textstats.py fails when it is not built, so CI always runs the compiled path.
    ext_modules=[Extension("stages._textstats", ["stages/_textstats.c"],
                           extra_compile_args=["-O2"], optional=True)],
)
