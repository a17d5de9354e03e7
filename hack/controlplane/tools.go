//go:build tools

// Package tools pins the Kubernetes control plane that the e2e suite runs as
// real processes: kube-apiserver, kube-controller-manager and kubectl, all
// from k8s.io/kubernetes. hack/controlplane/build.sh builds them into
// bin/controlplane (once; they are reused after that).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
