"""slocli: investigate SLO misses across Prometheus, Loki and Tempo."""

__version__ = "0.1.0"
