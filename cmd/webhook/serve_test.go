package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestKubeconfigHasNoClientRateLimit pins the fix for the gate's live reads
// being throttled to client-go's default 5 requests/s when serve runs with
// --kubeconfig (in-cluster, controller-runtime already lifts the limit).
func TestKubeconfigHasNoClientRateLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const cfg = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
users:
- name: u
  user:
    token: t
contexts:
- name: x
  context:
    cluster: c
    user: u
current-context: x
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := restConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if rc.QPS != -1 {
		t.Fatalf("QPS = %v, want -1 (no client-side rate limit)", rc.QPS)
	}
}
