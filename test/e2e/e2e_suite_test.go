//go:build e2e

// Package e2e runs canarygate's behaviour against a real control plane:
// etcd, kube-apiserver and kube-controller-manager built from the Go module
// proxy (make controlplane), `canarygate serve` with a real TLS certificate,
// and the real kubectl. Every step asserts the exit status and the text a
// person sees.
package e2e

import (
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/canarygate/canarygate/test/harness"
)

var env *harness.Env

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "canarygate e2e")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	root, err := filepath.Abs("../..")
	Expect(err).NotTo(HaveOccurred())
	env, err = harness.Start(ctx, harness.Options{Root: root, Log: GinkgoWriter, Timeout: 4 * time.Minute})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		Expect(env.Stop()).To(Succeed())
	})
}, NodeTimeout(5*time.Minute))
