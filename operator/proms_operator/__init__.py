"""Kubernetes controller: PrometheusDatasource CRs and Grafana ConfigMaps -> the registry."""
