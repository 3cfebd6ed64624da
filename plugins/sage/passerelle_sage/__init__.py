"""Sage 50 batch payment files for Passerelle: payroll and vendor direct deposits (CPA-005 or
NACHA), pre-authorized debits."""

from passerelle_sage.names import SageFile, sage_file
from passerelle_sage.options import SageOptions
from passerelle_sage.platform import SagePlatform

__all__ = ["SageFile", "SageOptions", "SagePlatform", "__version__", "sage_file"]

__version__ = "0.1.0"
