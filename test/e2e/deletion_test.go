//go:build e2e

package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("deletions the gate lets through", func() {
	It("completes the deletion of a namespace holding a whole release", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml", "labels/03a-isvc-model-v2.yaml",
			"scenario/01-services.yaml", "scenario/02-ingress.yaml", "labels/03-canary-ingress.yaml")
		Expect(succeed(ctx, "get", "ingress,service,inferenceservice", "-n", ns, "-o", "name").Stdout).To(Equal(
			"ingress.networking.k8s.io/gray-release-canary\ningress.networking.k8s.io/model-ingress\n" +
				"service/model-svc\nservice/model-v2-svc\n" +
				"inferenceservice.serving.kserve.io/model-v1\ninferenceservice.serving.kserve.io/model-v2\n"))

		r := succeed(ctx, "delete", "namespace", ns, "--wait=false")
		Expect(r.Stdout).To(ContainSubstring(fmt.Sprintf(`namespace %q deleted`, ns)))
		// kube-controller-manager's namespace controller deletes the
		// canary, the main route, the selected Services and
		// InferenceServices in whatever order it likes: the gate exempts it.
		Eventually(ctx, func() string {
			return kubectl(ctx, "get", "namespace", ns, "-o", "name").Stderr
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(ContainSubstring(fmt.Sprintf(`namespaces %q not found`, ns)))
	})

	It("allows deleting an InferenceService whose own predictor Service selects it, but not one another Service selects", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		applyAll(ctx, ns, "scenario/00-isvc-model-v1.yaml")
		uid := get(ctx, ns, "inferenceservice/model-v1", "{.metadata.uid}")
		Expect(uid).NotTo(BeEmpty())
		// What KServe creates for model-v1 in Standard mode: a predictor
		// Service controlled by the InferenceService.
		predictor := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: model-v1-predictor
  ownerReferences:
  - apiVersion: serving.kserve.io/v1beta1
    kind: InferenceService
    name: model-v1
    uid: %s
    controller: true
    blockOwnerDeletion: true
spec:
  selector:
    app: isvc.model-v1-predictor
  ports:
  - port: 80
    targetPort: 8080
`, uid)
		r := kubectlIn(ctx, predictor, "apply", "-n", ns, "-f", "-")
		Expect(r.Code).To(Equal(0), r.Output())
		Expect(r.Stdout).To(ContainSubstring("service/model-v1-predictor created"))
		applyAll(ctx, ns, "scenario/01-services.yaml")

		By("deleting model-v1 while model-svc, which it does not own, selects it")
		r = kubectl(ctx, "delete", "inferenceservice", "model-v1", "-n", ns)
		Expect(r.Code).To(Equal(1))
		Expect(r.Stderr).To(ContainSubstring(denied("gate-inferenceservices.canarygate.io", "CG501") +
			" InferenceService " + ns + "/model-v1: cannot delete: Service(s) model-svc still select it"))
		Expect(r.Stderr).NotTo(ContainSubstring("model-v1-predictor"))

		By("deleting model-v1 once only its predictor Service selects it")
		succeed(ctx, "delete", "service", "model-svc", "-n", ns)
		r = succeed(ctx, "delete", "inferenceservice", "model-v1", "-n", ns)
		Expect(r.Stdout).To(ContainSubstring(`inferenceservice.serving.kserve.io "model-v1" deleted`))
		// The garbage collector removes the predictor Service: exempt too.
		Eventually(ctx, func() string {
			return kubectl(ctx, "get", "service", "model-v1-predictor", "-n", ns).Stderr
		}).WithTimeout(time.Minute).Should(ContainSubstring(`services "model-v1-predictor" not found`))
	})
})
