"""Steps many labs share, written against the Lab handle (never a transport directly), one
module per domain; each raises Failure with a message a student can act on.

- chameleon: the lab's servers and leases at the sites it allows, and floating IPs (-> Host)
- instances: logging in as cc, and the course staff key on the instance
- containers: Docker on the instance (docker ps, docker inspect)
- kubernetes: kubectl on the instance, its JSON
- argo: Argo Workflows and ArgoCD as kubectl's jsonpath shows them: typed records, their links
- pipelines: an Argo train-test-promote pipeline judged: its steps, staging's gate, rollouts
- objectstores: the instance's S3 API (MinIO) and its buckets
- apis: JSON over HTTP: any endpoint, and MLflow's REST API
- gpus: sampling nvidia-smi or rocm-smi over SSH
- models: the lab's ONNX models, fetched and read, and timed in the student's container
- modelservers: which model server (FastAPI or Triton) and model answer, and the request
  it takes
- latency: load on a model server with the GPUs sampled; latency timed on the node, trusted
  only when it agrees with the grader's own figure less the round trip
"""
