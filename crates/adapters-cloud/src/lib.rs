//! Backends outside Kubernetes: shared PostgreSQL server, AWS, Azure. Built in their issues.
