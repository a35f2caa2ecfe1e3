//! CloudNativePG backend and Kubernetes helpers. Built in the CloudNativePG backend issue.
