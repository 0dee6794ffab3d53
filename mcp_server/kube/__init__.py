"""kube: the Kubernetes API as proms-mcp talks to it, without a Kubernetes client library.

Holds: where the API is and who we are to it (`kubeconfig`: in-cluster account or a
kubeconfig's current context) and plain requests to it (`kubeclient`: reviews, reads, status
patches, events), with every failure translated into `kubeclient.ApiError` once, there.

May import: core; httpx (only here and in the demo), certifi, pyyaml.
Must not: import kopf or kubernetes-asyncio, know about datasources, tools or MCP.
"""
