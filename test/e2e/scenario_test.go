//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The reference release of DESIGN §1 with hand-written nginx annotations,
// replayed file by file with kubectl.
var _ = Describe("the reference release with hand-written nginx annotations", func() {
	const gateServices = "gate-services.canarygate.io"
	switchFile := func() string { return fixture("scenario/04-switch.yaml") }

	// throughStep3b runs steps 0 to 3b and checks what kubectl reports.
	throughStep3b := func(ctx SpecContext, ns string) {
		GinkgoHelper()
		steps := []struct{ file, says string }{
			{"scenario/00-isvc-model-v1.yaml", "inferenceservice.serving.kserve.io/model-v1 created"},
			{"scenario/00-isvc-model-v2.yaml", "inferenceservice.serving.kserve.io/model-v2 created"},
			{"scenario/01-services.yaml", "service/model-svc created\nservice/model-v2-svc created"},
			{"scenario/02-ingress.yaml", "ingress.networking.k8s.io/model-ingress created"},
			{"scenario/03a-canary-header.yaml", "ingress.networking.k8s.io/gray-release-canary created"},
			{"scenario/03b-canary-weight.yaml", "ingress.networking.k8s.io/gray-release-canary configured"},
		}
		for _, s := range steps {
			r := apply(ctx, ns, s.file)
			Expect(r.Code).To(Equal(0), r.Output())
			Expect(r.Stdout).To(ContainSubstring(s.says))
			Expect(r.Stderr).To(BeEmpty(), "no warning expected on %s", s.file)
		}
	}

	It("allows steps 1 to 3b and stamps the canary when it first exposes model-v2", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		throughStep3b(ctx, ns)

		ann := annotations(ctx, ns, "ingress/gray-release-canary")
		Expect(strategy(ann)).To(Equal(map[string]string{
			"nginx.ingress.kubernetes.io/canary":        "true",
			"nginx.ingress.kubernetes.io/canary-weight": "20",
		}))
		since, err := time.Parse(time.RFC3339, ann["canarygate.io/canary-since"])
		Expect(err).NotTo(HaveOccurred(), "canary-since: %v", ann)
		Expect(since).To(BeTemporally("~", time.Now(), time.Minute))
	})

	It("denies the switch until model-v2 is Ready and verified, then records who verified it and the rollback target", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		throughStep3b(ctx, ns)

		By("switching while model-v2 is neither Ready nor verified")
		r := kubectl(ctx, "apply", "-n", ns, "-f", switchFile())
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied(gateServices, "CG301") + " Service " + ns + "/model-svc: switching the primary from model-v1 to model-v2 is blocked"))
		Expect(r.Stderr).To(ContainSubstring("it is not Ready"))
		Expect(r.Stderr).To(ContainSubstring(`it is not marked verified (canarygate.io/verified is not "true")`))
		Expect(r.Stderr).To(ContainSubstring("kubectl annotate inferenceservice model-v2 -n " + ns + " canarygate.io/verified=true"))
		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v1"}`))

		By("switching once model-v2 is Ready but not verified")
		markReady(ctx, ns, "model-v1")
		markReady(ctx, ns, "model-v2")
		r = kubectl(ctx, "apply", "-n", ns, "-f", switchFile())
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied(gateServices, "CG301")))
		Expect(r.Stderr).To(ContainSubstring("it is not marked verified"))
		Expect(r.Stderr).NotTo(ContainSubstring("it is not Ready"))

		By("verifying model-v2")
		r = succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v2 annotated"))
		stamps := annotations(ctx, ns, "inferenceservice/model-v2")
		Expect(stamps).To(HaveKeyWithValue("canarygate.io/verified-by", "alice"))
		Expect(stamps).To(HaveKeyWithValue("canarygate.io/verified-generation", "1"))
		at, err := time.Parse(time.RFC3339, stamps["canarygate.io/verified-at"])
		Expect(err).NotTo(HaveOccurred(), "verified-at: %v", stamps)
		Expect(at).To(BeTemporally("~", time.Now(), time.Minute))

		By("switching model-svc to model-v2")
		r = succeed(ctx, "apply", "-n", ns, "-f", switchFile())
		Expect(r.Stdout).To(ContainSubstring("service/model-svc configured"))
		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v2"}`))
		svc := annotations(ctx, ns, "service/model-svc")
		Expect(svc).To(HaveKeyWithValue("canarygate.io/previous-isvc", "model-v1"))
		Expect(svc).To(HaveKeyWithValue("canarygate.io/previous-generation", "1"))
	})

	It("allows the rollback to model-v1 and denies switching to model-v2 again once its spec changed after verification", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		throughStep3b(ctx, ns)
		markReady(ctx, ns, "model-v1")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		succeed(ctx, "apply", "-n", ns, "-f", switchFile())

		By("rolling model-svc back to model-v1 (model-v1 was never verified)")
		r := apply(ctx, ns, "scenario/01-services.yaml")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(ContainSubstring("service/model-svc configured"))
		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v1"}`))
		Expect(annotations(ctx, ns, "service/model-svc")).To(HaveKeyWithValue("canarygate.io/previous-isvc", "model-v2"))

		By("changing model-v2's spec; KServe reconciles generation 2")
		r = succeed(ctx, "patch", "inferenceservice", "model-v2", "-n", ns, "--type=merge",
			"-p", `{"spec":{"predictor":{"model":{"storageUri":"gs://kfserving-examples/models/sklearn/1.0/model-3"}}}}`)
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v2 patched"))
		Expect(get(ctx, ns, "inferenceservice/model-v2", "{.metadata.generation}")).To(Equal("2"))
		markReady(ctx, ns, "model-v2")

		By("switching to model-v2 again")
		r = kubectl(ctx, "apply", "-n", ns, "-f", switchFile())
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied(gateServices, "CG301") + " Service " + ns + "/model-svc: switching the primary from model-v1 to model-v2 is blocked"))
		Expect(r.Stderr).To(ContainSubstring(`it was verified at generation "1" but is now at generation 2`))
		Expect(get(ctx, ns, "service/model-svc", "{.spec.selector}")).To(Equal(`{"serving.kserve.io/inferenceservice":"model-v1"}`))

		By("re-verifying: removing canarygate.io/verified and setting it again")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified-")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		Expect(annotations(ctx, ns, "inferenceservice/model-v2")).To(HaveKeyWithValue("canarygate.io/verified-generation", "2"))
		r = succeed(ctx, "apply", "-n", ns, "-f", switchFile())
		Expect(r.Stdout).To(ContainSubstring("service/model-svc configured"))
	})

	It("allows the cleanup of step 5 in the listed order", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		throughStep3b(ctx, ns)
		markReady(ctx, ns, "model-v1")
		markReady(ctx, ns, "model-v2")
		succeed(ctx, "annotate", "inferenceservice", "model-v2", "-n", ns, "canarygate.io/verified=true")
		succeed(ctx, "apply", "-n", ns, "-f", switchFile())

		r := succeed(ctx, "delete", "ingress", "gray-release-canary", "-n", ns)
		Expect(r.Stdout).To(ContainSubstring(`ingress.networking.k8s.io "gray-release-canary" deleted`))
		r = succeed(ctx, "delete", "inferenceservice", "model-v1", "-n", ns)
		Expect(r.Stdout).To(ContainSubstring(`inferenceservice.serving.kserve.io "model-v1" deleted`))
		r = succeed(ctx, "delete", "service", "model-v2-svc", "-n", ns)
		Expect(r.Stdout).To(ContainSubstring(`service "model-v2-svc" deleted`))

		r = succeed(ctx, "get", "ingress,service,inferenceservice", "-n", ns, "-o", "name")
		Expect(r.Stdout).To(Equal("ingress.networking.k8s.io/model-ingress\nservice/model-svc\ninferenceservice.serving.kserve.io/model-v2\n"))
	})

	It("denies a cleanup order that would drop traffic", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		throughStep3b(ctx, ns)

		By("deleting model-v2-svc while the canary routes to it")
		r := kubectl(ctx, "delete", "service", "model-v2-svc", "-n", ns)
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied(gateServices, "CG502") +
			" Service " + ns + "/model-v2-svc: cannot delete: Ingress(es) " + ns + "/gray-release-canary still route to it"))

		By("deleting model-v1 while model-svc selects it")
		r = kubectl(ctx, "delete", "inferenceservice", "model-v1", "-n", ns)
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied("gate-inferenceservices.canarygate.io", "CG501") +
			" InferenceService " + ns + "/model-v1: cannot delete: Service(s) model-svc still select it"))

		By("deleting the main Ingress while its canary exists")
		r = kubectl(ctx, "delete", "ingress", "model-ingress", "-n", ns)
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied("gate-ingresses.canarygate.io", "CG503") +
			" Ingress " + ns + "/model-ingress: cannot delete this main route while canary Ingress(es) " + ns + "/gray-release-canary exist"))

		r = succeed(ctx, "get", "ingress,service,inferenceservice", "-n", ns, "-o", "name")
		Expect(r.Stdout).To(ContainSubstring("service/model-v2-svc"))
		Expect(r.Stdout).To(ContainSubstring("inferenceservice.serving.kserve.io/model-v1"))
		Expect(r.Stdout).To(ContainSubstring("ingress.networking.k8s.io/model-ingress"))
	})
})
