"""entra-bootstrap: secretless access from Azure workloads to Microsoft Entra ID applications."""

__version__ = "0.1.0"
