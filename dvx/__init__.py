"""dvx: Git-integrated data versioning and pipelines."""

__version__ = "0.1.0"
