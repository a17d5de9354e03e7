//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The same release with the canary declared by labels on model-v2
// (test/fixtures/labels/): the canary Ingress carries only canary: "true".
var _ = Describe("a canary declared by labels on model-v2", func() {
	header := map[string]string{
		"nginx.ingress.kubernetes.io/canary":                 "true",
		"nginx.ingress.kubernetes.io/canary-by-header":       "foo",
		"nginx.ingress.kubernetes.io/canary-by-header-value": "bar",
	}

	// declared runs steps 0 to 3a with the canary declared by labels.
	declared := func(ctx SpecContext, ns string) {
		GinkgoHelper()
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "labels/03a-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml")
		r := apply(ctx, ns, "labels/03-canary-ingress.yaml")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(ContainSubstring("ingress.networking.k8s.io/gray-release-canary created"))
		Expect(r.Stderr).To(BeEmpty())
	}

	It("injects exactly the header strategy of step 3a and names model-v2 as its source", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		declared(ctx, ns)

		Expect(get(ctx, ns, "ingress/gray-release-canary", `{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header}`)).To(Equal("foo"))
		Expect(get(ctx, ns, "ingress/gray-release-canary", `{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header-value}`)).To(Equal("bar"))
		ann := annotations(ctx, ns, "ingress/gray-release-canary")
		Expect(strategy(ann)).To(Equal(header))
		Expect(ann).To(HaveKeyWithValue("canarygate.io/source", "model-v2"))
		Expect(ann).To(HaveKey("canarygate.io/canary-since"))
	})

	It("moves the canary to the weight of step 3b when model-v2's declaration changes", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		declared(ctx, ns)

		r := apply(ctx, ns, "labels/03b-isvc-model-v2.yaml")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v2 configured"))
		Expect(r.Stderr).To(ContainSubstring("Warning: [CG253] InferenceService " + ns + "/model-v2: this update changes labels"))

		Eventually(ctx, canaryStrategy(ctx, ns)).WithTimeout(30 * time.Second).Should(Equal(map[string]string{
			"nginx.ingress.kubernetes.io/canary":        "true",
			"nginx.ingress.kubernetes.io/canary-weight": "20",
		}))
		r = apply(ctx, ns, "labels/03-canary-ingress.yaml")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(ContainSubstring("ingress.networking.k8s.io/gray-release-canary unchanged"))
	})

	It("follows canarygate.io/weight through the sync controller and refuses a weight above 50 until model-v2 is verified", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		declared(ctx, ns)

		By("raising the weight to 30 on the InferenceService")
		r := succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/weight=30", "--overwrite")
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v2 annotated"))
		weight := canaryWeight(ctx, ns)
		Eventually(ctx, weight).WithTimeout(30 * time.Second).Should(Equal("30"))

		By("finding the sync recorded as an Event on model-v2")
		events := func(g Gomega) string {
			r := kubectl(ctx, "get", "events", "-n", ns,
				"--field-selector", "involvedObject.kind=InferenceService,involvedObject.name=model-v2,reason=CanaryIngressUpdated",
				"-o", "jsonpath={range .items[*]}{.type} {.related.name}: {.message}{\"\\n\"}{end}")
			g.Expect(r.Code).To(Equal(0), r.Output())
			return r.Stdout
		}
		Eventually(ctx, events).WithTimeout(30 * time.Second).Should(ContainSubstring(
			`Normal gray-release-canary: Ingress gray-release-canary set to canary-by-header="foo", canary-by-header-value="bar", canary-weight="30"`))

		By("raising the weight to 60 while model-v2 is not verified")
		r = kubectl(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/weight=60", "--overwrite")
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied("gate-inferenceservices.canarygate.io", "CG302") +
			" InferenceService " + ns + "/model-v2: weight 60 of 100 sends 60% of traffic to model-v2, above max_unverified_weight 50%"))
		Expect(get(ctx, ns, "inferenceservice/model-v2", `{.metadata.annotations.canarygate\.io/weight}`)).To(Equal("30"))
		Consistently(ctx, weight).WithTimeout(2 * time.Second).Should(Equal("30"))

		By("raising the weight to 60 once model-v2 is Ready and verified")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		r = succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/weight=60", "--overwrite")
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v2 annotated"))
		Eventually(ctx, weight).WithTimeout(30 * time.Second).Should(Equal("60"))
	})
})
