"""Only the package list lives here: pyproject.toml cannot both find ketamon's
packages and add the top-level resources/ directory (with its folders) as
ketamon.resources. The mapping and the data files are declared in pyproject.toml."""
from setuptools import find_namespace_packages, setup

setup(packages=find_namespace_packages(include=["ketamon*"]) + ["ketamon.resources"]
      + [f"ketamon.resources.{p}" for p in find_namespace_packages(where="resources")])
