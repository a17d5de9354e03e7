//go:build tools

// Package tools pins etcd, which the e2e suite runs as a real process. It
// lives in its own module because, next to k8s.io/kubernetes, the etcd
// modules resolve to the version Kubernetes requires rather than the pinned
// one. hack/controlplane/build.sh builds it with
//
//	go build go.etcd.io/etcd/server/v3
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
