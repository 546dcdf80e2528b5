"""picluster: submit commands and Python functions to a picluster master.

>>> from picluster import Cluster
>>> cluster = Cluster("http://master:8080", token="…")
>>> cluster.submit(["uname", "-a"]).result()
>>> def power(x, n):
...     return x ** n
>>> cluster.map(power, [2, 3], [10, 2])        # [1024, 9]
"""
from .cluster import RETRY_CAUSES, Cluster, as_completed
from .errors import ClusterError, FilesUnsupported, JobFailed, TlsPinMismatch, TlsTrustError
from .job import Artifact, Job, JobResult, Output
from .source import ShippingError

__version__ = "0.1.0"
__all__ = ["Artifact", "Cluster", "Job", "JobResult", "Output", "as_completed", "ClusterError", "FilesUnsupported", "JobFailed", "ShippingError", "RETRY_CAUSES", "TlsPinMismatch", "TlsTrustError"]
