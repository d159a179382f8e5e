"""energy on a schedule: Prefect flows over energy's jobs (:mod:`energy_prefect.flows`) and the
deployments that run them every hour, day and week (:mod:`energy_prefect.deployments`)."""
