//go:build e2e

package e2e

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Every webhook is sideEffects: None, so `kubectl apply --dry-run=server`
// gives CI the cluster's own decision without changing anything.
var _ = Describe("kubectl apply --dry-run=server", func() {
	It("gives the same CG301 denial for the unverified switch and persists nothing", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "scenario/00-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml", "scenario/03b-canary-weight.yaml")
		before := get(ctx, ns, "service/model-svc", "{.metadata.resourceVersion}")

		r := kubectl(ctx, "apply", "--dry-run=server", "-n", ns, "-f", fixture("scenario/04-switch.yaml"))
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied("gate-services.canarygate.io", "CG301") +
			" Service " + ns + "/model-svc: switching the primary from model-v1 to model-v2 is blocked: model-v2 is not verified"))

		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v1"}`))
		Expect(get(ctx, ns, "service/model-svc", "{.metadata.resourceVersion}")).To(Equal(before))
	})

	It("shows an allowed switch with its stamps and persists nothing", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "scenario/00-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml", "scenario/03b-canary-weight.yaml")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")

		r := succeed(ctx, "apply", "--dry-run=server", "-n", ns, "-f", fixture("scenario/04-switch.yaml"), "-o", "json")
		var svc struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				Selector map[string]string `json:"selector"`
			} `json:"spec"`
		}
		Expect(json.Unmarshal([]byte(r.Stdout), &svc)).To(Succeed())
		Expect(svc.Spec.Selector).To(HaveKeyWithValue("serving.kserve.io/inferenceservice", "model-v2"))
		Expect(svc.Metadata.Annotations).To(HaveKeyWithValue("canarygate.io/previous-isvc", "model-v1"))

		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v1"}`))
		Expect(annotations(ctx, ns, "service/model-svc")).NotTo(HaveKey("canarygate.io/previous-isvc"))
	})

	It("creates nothing for an allowed object, and shows the strategy it would inject", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "labels/03a-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml")

		r := apply(ctx, ns, "labels/03-canary-ingress.yaml", "--dry-run=server")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(Equal("ingress.networking.k8s.io/gray-release-canary created (server dry run)\n"))

		r = apply(ctx, ns, "labels/03-canary-ingress.yaml", "--dry-run=server", "-o", `jsonpath={.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header}={.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header-value}`)
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(Equal("foo=bar"))

		r = kubectl(ctx, "get", "ingress", "gray-release-canary", "-n", ns)
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(`ingresses.networking.k8s.io "gray-release-canary" not found`))
		Expect(succeed(ctx, "get", "events", "-n", ns, "-o", "name").Stdout).To(BeEmpty())
	})
})
