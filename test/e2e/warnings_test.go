//go:build e2e

package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("lint warnings", func() {
	It("warns that canary-by-header-pattern is ignored next to canary-by-header-value, and admits the canary", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "scenario/00-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml")

		r := apply(ctx, ns, "e2e/canary-header-value-and-pattern.yaml")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(Equal("ingress.networking.k8s.io/gray-release-canary created\n"))
		Expect(r.Stderr).To(Equal("Warning: [CG114] Ingress " + ns + `/gray-release-canary: canary-by-header-value "bar" and ` +
			`canary-by-header-pattern "^ba.*" are both set; ingress-nginx matches the exact value and ignores the pattern; remove one of them` + "\n"))
		Expect(annotations(ctx, ns, "ingress/gray-release-canary")).To(HaveKeyWithValue("nginx.ingress.kubernetes.io/canary-by-header-pattern", "^ba.*"))
	})
})
