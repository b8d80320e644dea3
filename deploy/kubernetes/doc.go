// Package kubernetes holds Warden's Kubernetes manifests (the servers'
// StatefulSet, Service and PodDisruptionBudget, a replica per node as a
// DaemonSet, a per-pod sidecar, and example apps). Its test decodes each
// manifest strictly into the Kubernetes API's own types and checks that
// they fit together.
package kubernetes
