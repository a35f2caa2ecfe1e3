//! Kubernetes operator front door (kube-runtime). Built in its issue.
