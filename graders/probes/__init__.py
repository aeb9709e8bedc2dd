"""Probes: how the grader looks at a student's systems. One convention, two kinds.

- I/O probes talk to something: Chameleon's APIs through python-chi (chameleon), SSH and SFTP
  through fabric (ssh), HTTP through requests (http), S3 as signed requests through the HTTP
  probe (s3), the GitHub API (github), load from a worker process (load). A check never
  builds one itself: it reaches them through its Lab handle (`lab.chameleon`, `lab.http`,
  `lab.run/fetch/put`, `lab.s3(...)`, `lab.github`, `lab.load(...)`), which binds them to the
  check's evidence, so every exchange is recorded, redacted and capped, and every one has its
  deadline here.
- Parsers are pure: text or bytes in, data out, no network, unit-testable on their own
  (gpu: nvidia-smi CSV and rocm-smi JSON; junit: JUnit XML; xmlsafe: XML without DTDs;
  promql: metric names of a query; onnxmodel: an ONNX file's graph; credentials: clouds.yaml).

Steps that several labs share, written against the Lab handle, live in graders/labkit/.
"""
