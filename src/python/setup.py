"""src/python/setup.py - builds the extension tfrecord_tools._native for
pip with the repository's CMake build (target tfr_python: the C library
linked in statically, no CUDA), for the interpreter pip runs. The package
metadata is in pyproject.toml."""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
# the checkout this directory belongs to; TFR_SOURCE_DIR names it when the
# package directory was copied elsewhere
ROOT = os.environ.get("TFR_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not os.path.isfile(os.path.join(ROOT, "CMakeLists.txt")):
            raise RuntimeError(f"tfrecord_tools builds from a tfrecord-tools checkout: no CMakeLists.txt in {ROOT}")
        build = os.path.join(os.path.abspath(self.build_temp), "cmake")
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                               "-DTFR_BUILD_TESTS=OFF", "-DTFR_CUDA=OFF",
                               f"-DPython3_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", build, "-j", str(os.cpu_count() or 2),
                               "--target", "tfr_python"])
        name = os.path.basename(self.get_ext_filename(ext.name))
        built = os.path.join(build, "python", "tfrecord_tools", name)
        if not os.path.isfile(built):
            raise RuntimeError(f"CMake did not build {built}: is python3-dev installed for {sys.executable}?")
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(built, dest)


setup(ext_modules=[Extension("tfrecord_tools._native", sources=[])], cmdclass={"build_ext": CMakeBuild})
