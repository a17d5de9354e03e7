//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// newNamespace creates a namespace for one spec and removes it afterwards.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1_000_000_000)
	Expect(kubectl(ctx, "create", "namespace", ns).Code).To(Equal(0))
	DeferCleanup(func(ctx SpecContext) {
		kubectl(ctx, "delete", "namespace", ns, "--wait=false")
	})
	return ns
}

var _ = Describe("the reference release with hand-written nginx annotations", func() {
	It("denies the switch until model-v2 is verified", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		for _, f := range []string{"00-isvc-model-v1.yaml", "00-isvc-model-v2.yaml", "01-services.yaml", "02-ingress.yaml", "03a-canary-header.yaml", "03b-canary-weight.yaml"} {
			r := kubectl(ctx, "apply", "-n", ns, "-f", fixture("scenario/"+f))
			Expect(r.Code).To(Equal(0), r.Output())
		}
		r := kubectl(ctx, "apply", "-n", ns, "-f", fixture("scenario/04-switch.yaml"))
		Expect(r.Code).NotTo(Equal(0))
		Expect(r.Stderr).To(ContainSubstring("[CG301]"))
	})
})
