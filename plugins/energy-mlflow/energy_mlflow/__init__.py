"""MLflow tracker for energy: ``energy train --tracker mlflow``."""
