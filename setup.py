"""setup.py for Beam's --setup_file (Dataflow and portable workers); metadata is in setup.cfg."""
from setuptools import setup

setup()
